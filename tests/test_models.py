import pytest
import torch

from fashionret.models import Backbone, PretrainedWeightsError, SimpleNetwork


def test_sn_output_shape_resnet50_paper_size():
    model = SimpleNetwork(Backbone("resnet50", pretrained=False), conv_channels=4096, embedding_dim=256)
    assert model.backbone.channels[-1] == 2048  # conv5_block3
    with torch.no_grad():
        out = model(torch.randn(2, 3, 256, 256))
    assert out.shape == (2, 256)
    assert model.reduce.out_channels == 4096  # Table I GlobalAvg: 4096 features


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv1_100", "vgg16"])
def test_sn_on_any_timm_backbone(name):
    model = SimpleNetwork(Backbone(name, pretrained=False), conv_channels=16, embedding_dim=8, normalize=True)
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 8)
    assert torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-5)


def test_failed_download_is_one_sentence_naming_both_alternatives(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PretrainedWeightsError) as info:
        Backbone("resnet18", pretrained=True)
    msg = str(info.value)
    assert "backbone.checkpoint_path=FILE" in msg and "backbone.pretrained=false" in msg
    assert msg.count(". ") == 0 and msg.endswith(".")  # one sentence
    assert info.value.__cause__ is None  # no network stack trace chained


def test_offline_pretrained_fails_in_seconds(monkeypatch, tmp_path):
    """No HF_HUB_OFFLINE, no network, nothing cached: one sentence after a short probe, not a minute of retries."""
    import socket
    import time

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf/hub"))
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf/hub"))
    probed = []

    def no_network(address, timeout=None, **kwargs):
        probed.append((address, timeout))
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", no_network)
    start = time.perf_counter()
    with pytest.raises(PretrainedWeightsError, match=r"backbone\.pretrained=false") as info:
        Backbone("resnet18", pretrained=True)
    assert time.perf_counter() - start < 10
    assert probed == [(("huggingface.co", 443), 3.0)]
    assert "ConnectionError" in str(info.value) and info.value.__cause__ is None


def test_checkpoint_path_loads_local_weights(tmp_path):
    src = Backbone("resnet18", pretrained=False)
    # a full-model state dict as timm would save it (the feature extractor drops fc.* on load)
    full = {f"{k}": v for k, v in src.body.state_dict().items()}
    full["fc.weight"], full["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    path = tmp_path / "resnet18.pth"
    torch.save(full, path)
    loaded = Backbone("resnet18", checkpoint_path=str(path))
    for k, v in src.body.state_dict().items():
        assert torch.equal(loaded.body.state_dict()[k], v), k


def test_unknown_backbone_and_missing_checkpoint():
    with pytest.raises(ValueError, match="unknown timm backbone"):
        Backbone("resnet_does_not_exist")
    with pytest.raises(FileNotFoundError, match="checkpoint_path"):
        Backbone("resnet18", checkpoint_path="/nonexistent/weights.pth")
