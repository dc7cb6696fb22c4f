from cutout_studio.cli import main

raise SystemExit(main())
