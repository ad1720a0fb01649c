"""`--base curvature` with the Taskonomy layout: the official visualpriors file from torch's hub cache, or
downloaded (here from a file:// address) with its SHA-256 checked."""

from __future__ import annotations

import hashlib

import pytest
import torch

import policies.base_taskonomy as base_taskonomy
import policies.bases as bases
from policies.base_taskonomy import TaskonomyEncoder
from policies.bases import load_base
from policies.checkpoints import save_encoder_weights


@pytest.fixture()
def published(tmp_path, monkeypatch):
    """A 'published' curvature encoder at a file:// address, named with its SHA-256 as visualpriors does,
    and an empty torch hub cache."""
    torch.manual_seed(3)
    encoder = TaskonomyEncoder()
    source = save_encoder_weights(encoder, tmp_path / "site" / "staging.pth")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    filename = f"curvature_encoder-{digest}.pth"
    source = source.rename(source.with_name(filename))
    monkeypatch.setattr(bases, "OFFICIAL_FILES", {**base_taskonomy.OFFICIAL_FILES, "curvature": filename})
    monkeypatch.setattr(bases, "OFFICIAL_URL_TEMPLATE", f"file://{source.parent}/{{filename}}")
    monkeypatch.setattr(bases, "WEIGHTS_DIR", tmp_path / "no_shipped_weights")
    saved = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield encoder, source, tmp_path / "hub" / "checkpoints" / filename
    torch.hub.set_dir(saved)


def test_downloads_into_the_hub_cache_then_uses_the_cache(published):
    encoder, source, cached = published
    with pytest.raises(FileNotFoundError, match="hub cache"):
        bases.resolve_weights("curvature", "taskonomy")  # config checks look, they do not download
    assert not cached.exists()
    base = load_base("curvature", "taskonomy")
    assert cached.is_file()
    for key, value in encoder.state_dict().items():
        assert torch.equal(base.state_dict()[key], value), key
    source.unlink()  # offline now: the cache alone must serve it
    again = load_base("curvature", "taskonomy")
    assert all(torch.equal(again.state_dict()[k], v) for k, v in encoder.state_dict().items())


def test_a_download_with_the_wrong_checksum_is_refused_and_not_kept(published, monkeypatch):
    _, source, cached = published
    wrong = "curvature_encoder-" + "0" * 64 + ".pth"
    source.rename(source.with_name(wrong))
    monkeypatch.setattr(bases, "OFFICIAL_FILES", {**bases.OFFICIAL_FILES, "curvature": wrong})
    with pytest.raises(ValueError, match="SHA-256"):
        load_base("curvature", "taskonomy")
    assert not any(cached.parent.glob("curvature_encoder-*"))


def test_offline_without_a_cached_copy_names_the_cache_path(published):
    _, source, cached = published
    source.unlink()
    with pytest.raises(FileNotFoundError, match=str(cached)):
        load_base("curvature", "taskonomy")


def test_the_compact_arch_still_uses_the_shipped_weights():
    assert bases.resolve_weights("curvature", "compact") == bases.shipped_weights_path("curvature", "compact")
