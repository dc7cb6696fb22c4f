"""Recipes (issue 13, item 4): a TOML file with everything a shoot needs, identical in effect to
the same flags, overridden by the flags given, and refused key by key with one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cutout_studio.cli import UsageError, build_parser, export_options_from_args, main
from cutout_studio.core.edges import EdgeOptions
from cutout_studio.core.export import ExportOptions
from cutout_studio.core.export.presets import preset_values
from cutout_studio.core.recipes import RecipeError, load_recipe, options_from_layers, recipe_text, save_recipe

DATA = Path(__file__).resolve().parents[1] / "data"
PHOTOS = [DATA / "objects-coco__teddy_bear04_000000325527.jpg", DATA / "objects-coco__tv02_000000063740.jpg"]
BACKGROUND = Path("/work/shared/data/backgrounds/bsds_100075.jpg")

RECIPE = """\
model = "default"
format = "webp"
quality = 90
background = "#336699"
crop = true
padding = 10.0
padding_unit = "%"
square = true
naming = "{stem}_shop"

[edges]
feather = 1.5
shift = -1.0
min_island = 50
"""
SAME_FLAGS = ["--model", "default", "--format", "webp", "--quality", "90", "--background", "#336699", "--crop",
              "--padding", "10%", "--square", "--naming", "{stem}_shop", "--feather", "1.5", "--shift", "-1",
              "--min-island", "50"]


def _options(*argv: str) -> ExportOptions:
    return export_options_from_args(build_parser().parse_args(["batch", "in", "-o", "out", *argv]))


def test_a_recipe_makes_the_same_outputs_as_the_same_flags(model_home, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for photo in PHOTOS:
        shutil.copy(photo, src / photo.name)
    recipe = tmp_path / "shop.toml"
    recipe.write_text(RECIPE, encoding="utf-8")
    assert main(["batch", str(src), "-o", str(tmp_path / "a"), "--device", "cpu", "--recipe", str(recipe)]) == 0
    assert main(["batch", str(src), "-o", str(tmp_path / "b"), "--device", "cpu", *SAME_FLAGS]) == 0
    made = sorted(p.name for p in (tmp_path / "a").glob("*.webp"))
    assert made == sorted(f"{p.stem}_shop.webp" for p in PHOTOS)
    assert made == sorted(p.name for p in (tmp_path / "b").glob("*.webp"))
    for name in made:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_flags_override_the_recipe(tmp_path):
    recipe = tmp_path / "shop.toml"
    recipe.write_text(RECIPE, encoding="utf-8")
    from_recipe = _options("--recipe", str(recipe))
    assert from_recipe == _options(*SAME_FLAGS[2:])  # everything but the model, which is not an export option
    over = _options("--recipe", str(recipe), "--format", "png", "--no-crop", "--feather", "0", "--naming", "{stem}")
    assert (over.format, over.crop, over.edges.feather, over.naming) == ("png", False, 0.0, "{stem}")
    assert (over.background, over.square, over.edges.shift) == ((0x33, 0x66, 0x99), True, -1.0)  # the rest stays


def test_a_preset_in_a_recipe_is_the_layer_beneath_its_values(tmp_path):
    recipe = tmp_path / "amazon.toml"
    recipe.write_text('preset = "amazon"\nnaming = "{stem}_main"\n', encoding="utf-8")
    options = _options("--recipe", str(recipe))
    assert options == ExportOptions(**preset_values("amazon") | {"naming": "{stem}_main"})
    # a preset given on the command line replaces the recipe's
    assert _options("--recipe", str(recipe), "--preset", "etsy").padding == preset_values("etsy")["padding"]


def test_saved_recipe_reads_back_as_the_same_options(tmp_path):
    options = ExportOptions(format="jpeg", quality=85, background=BACKGROUND, crop=True, padding=12, square=True,
                            naming="{stem}_x", preset="shopify", edges=EdgeOptions(feather=2.0, matting=True))
    path = save_recipe(tmp_path / "r.toml", options, "u2netp")
    recipe = load_recipe(path)
    assert options_from_layers(recipe) == options and recipe.model == "u2netp"
    amazon = ExportOptions(**preset_values("amazon"))
    text = recipe_text(amazon)
    assert 'preset = "amazon"' in text and "padding" not in text  # the preset brings its own values back
    (tmp_path / "a.toml").write_text(text, encoding="utf-8")
    assert options_from_layers(load_recipe(tmp_path / "a.toml")) == amazon


@pytest.mark.parametrize(("text", "message"), [
    ('shadow = "long"\n', "recipe bad.toml: key 'shadow': shadow must be 'none' or 'contact'"),
    ('vignette = 0.5\n', "recipe bad.toml: unknown key 'vignette' (known: model, "),
    ("[edges]\nradius = 3\n", "recipe bad.toml: unknown key 'edges.radius'"),
    ("padding = -3\n", "recipe bad.toml: key 'padding': padding must be 0 to 10000 px, got -3"),
    ('[edges]\nfeather = "soft"\n', "recipe bad.toml: key 'edges.feather': feather must be a number"),
    ('format = "jpeg"\n', "recipe bad.toml: key 'format': JPEG has no transparency"),
    ('preset = "walmart"\n', "recipe bad.toml: key 'preset': preset must be "),
    ('naming = "cutout"\n', "recipe bad.toml: key 'naming': file name pattern must contain {stem}"),
    ('model = "nope"\n', "recipe bad.toml: key 'model': unknown model 'nope'"),
    ('edges = 3\n', "recipe bad.toml: key 'edges' must be a table"),
    ("format = png\n", "recipe bad.toml: not valid TOML: "),
])
def test_a_bad_recipe_is_one_line_naming_the_key_and_the_file(tmp_path, capsys, text, message):
    (tmp_path / "bad.toml").write_text(text, encoding="utf-8")
    with pytest.raises(RecipeError) as caught:
        load_recipe(tmp_path / "bad.toml")
    assert str(caught.value).startswith(message)
    # the command line stops before loading the model: a usage error, exit status 2, one line
    with pytest.raises(SystemExit) as stopped:
        main(["batch", str(DATA), "-o", str(tmp_path / "out"), "--recipe", str(tmp_path / "bad.toml")])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "out").exists()


def test_a_missing_recipe_is_named(tmp_path):
    with pytest.raises(RecipeError, match=r"^recipe nowhere.toml: cannot read it: No such file"):
        load_recipe(tmp_path / "nowhere.toml")


def test_a_flag_fixing_the_recipes_value_is_not_blamed_on_it(tmp_path):
    (tmp_path / "r.toml").write_text('format = "png"\nbackground = "#ffffff"\n', encoding="utf-8")
    # the combination is the flags': JPEG over the recipe's white is fine, and a bad flag is the flag's
    assert _options("--recipe", str(tmp_path / "r.toml"), "--format", "jpeg").format == "jpeg"
    with pytest.raises(UsageError, match=r"^padding must be 0 to 10000 px, got -1$"):
        _options("--recipe", str(tmp_path / "r.toml"), "--padding", "-1")


def test_the_recipes_model_is_used_unless_model_is_given(model_home, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(PHOTOS[0], src / "bear.jpg")
    (tmp_path / "unet.toml").write_text('model = "unet"\n', encoding="utf-8")  # a model this home lacks
    run = ["batch", str(src), "-o", str(tmp_path / "out"), "--device", "cpu", "--recipe", str(tmp_path / "unet.toml")]
    assert main(run) == 2
    assert "unet" in capsys.readouterr().err
    assert main([*run, "--model", "u2netp"]) == 0
    assert (tmp_path / "out" / "bear.png").exists()


def test_a_background_image_beside_the_recipe_is_found_from_anywhere(tmp_path, monkeypatch):
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    shutil.copy(BACKGROUND, shoot / "studio.jpg")
    (shoot / "r.toml").write_text('background = "studio.jpg"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # not the recipe's folder
    assert options_from_layers(load_recipe(shoot / "r.toml")).background == shoot / "studio.jpg"
    (shoot / "r.toml").write_text('background = "missing.jpg"\n', encoding="utf-8")
    with pytest.raises(RecipeError, match=r"^recipe r.toml: key 'background': background image "):
        load_recipe(shoot / "r.toml")
