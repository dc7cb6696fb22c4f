from cutout_studio.cli import run

run()
