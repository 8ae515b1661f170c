"""PAResNet family (paper 000): output shapes, Table I sizes, branch taps per backbone, weight-preserving taps."""

import pytest
import timm
import torch

from fashionret.models import BRANCH_TAPS, Backbone, Branch, PAResNet, SimpleNetwork, backbone_with_taps
from fashionret.models.paresnet import default_tap

ONE = [{"downsample": 4, "channels": 8, "attention": "none"}]
ONE_ATT = [{"downsample": 4, "channels": 8, "attention": "cbam"}]
TWO_ATT = [{"downsample": 4, "channels": 8, "attention": "cbam"}, {"downsample": 8, "channels": 8, "attention": "cbam"}]
ARCHS = {"sn": [], "sbn": ONE, "sban": ONE_ATT, "dban": TWO_ATT}


@pytest.fixture(scope="module")
def resnet50():
    return Backbone("resnet50", pretrained=False)


def test_table1_sizes_at_256_on_resnet50(resnet50):
    """Table I: Flatten 65536, SPP 21504, GlobalAvg 4096 — with each head's own 1x1 conv width."""
    sizes = {}
    for head in ("flatten", "spp", "gap"):
        m = PAResNet(resnet50, head=head, embedding_dim=8, input_size=(256, 256))
        sizes[head] = m.feature_sizes["head"]
        assert m.embed.in_features == sizes[head]
    assert sizes == {"flatten": 65536, "spp": 21504, "gap": 4096}
    # the measured size is the real one
    m = PAResNet(resnet50, head="spp", embedding_dim=8)
    with torch.no_grad():
        assert m.features(torch.zeros(1, 3, 256, 256)).shape == (1, 21504)


@pytest.mark.parametrize("arch", list(ARCHS))
def test_every_model_output_shape_resnet50(arch, resnet50):
    m = PAResNet(resnet50, head="gap", conv_channels=64, branches=ARCHS[arch], embedding_dim=12, input_size=(64, 96))
    m.eval()
    with torch.no_grad():
        out = m(torch.randn(2, 3, 64, 96))
    assert out.shape == (2, 12)
    # branches tap conv1 (stride 2, 64 ch): 32x48 -> pooled 4:1 = 8x12, 8:1 = 4x6, 8 channels each
    expected = {"head": 64}
    for i, b in enumerate(ARCHS[arch]):
        expected[f"branch{i}"] = 8 * (32 // b["downsample"]) * (48 // b["downsample"])
    assert m.feature_sizes == expected
    assert m.embed.in_features == sum(expected.values())
    n_cbam = sum(
        isinstance(b.attention, torch.nn.Module) and b.attention.__class__.__name__ == "CBAM" for b in m.branches
    )
    assert n_cbam == {"sn": 0, "sbn": 0, "sban": 1, "dban": 2}[arch]


def test_dban_paper_configuration_shape(resnet50):
    """PAResNet50 at 320x320 with the paper configs' widths: 4096 GAP + two 32-channel CBAM branches."""
    branches = [{"downsample": 4, "channels": 32}, {"downsample": 8, "channels": 32}]
    m = PAResNet(resnet50, head="gap", branches=branches, embedding_dim=8, input_size=(320, 320))
    assert m.feature_sizes == {"head": 4096, "branch0": 32 * 40 * 40, "branch1": 32 * 20 * 20}


@pytest.mark.parametrize(
    ("name", "module", "channels", "reduction"),
    [
        ("resnet50", "act1", 64, 2),  # Keras conv1_relu
        ("vgg16", "features.3", 64, 1),  # block1_conv2
        ("mobilenetv1_100", "blocks.0", 64, 2),  # conv_pw_1_relu
    ],
)
def test_branch_tap_per_backbone_is_conv1_output(name, module, channels, reduction):
    tap = default_tap(name)
    info = timm.create_model(name, features_only=True, pretrained=False).feature_info.info
    assert (info[tap]["module"], info[tap]["num_chs"], info[tap]["reduction"]) == (module, channels, reduction)
    m = PAResNet(
        Backbone(name, pretrained=False), conv_channels=16, branches=ONE_ATT, embedding_dim=4, input_size=(64, 64)
    )
    assert m.backbone.channels[0] == channels and m.backbone.reductions[0] == reduction
    assert m.feature_sizes["branch0"] == 8 * (64 // reduction // 4) ** 2
    with torch.no_grad():
        assert m.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 4)
    assert set(BRANCH_TAPS) >= {"resnet", "vgg", "mobilenetv1"}


def test_retap_keeps_weights_and_deep_features():
    bb = Backbone("resnet18", pretrained=False).eval()
    tapped = backbone_with_taps(bb, (0, -1)).eval()
    assert tapped is not bb and tapped.channels == [64, 512]
    for k, v in bb.body.state_dict().items():
        assert torch.equal(tapped.body.state_dict()[k], v), k
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(tapped(x)[-1], bb(x)[-1])
    assert backbone_with_taps(tapped, (0, 4)) is tapped  # already tapped: reused


def test_simple_network_is_the_branchless_member():
    bb = Backbone("resnet18", pretrained=False)
    sn = SimpleNetwork(bb, conv_channels=32, embedding_dim=8)
    assert isinstance(sn, PAResNet) and len(sn.branches) == 0
    assert sn.reduce.out_channels == 32 and sn.feature_sizes == {"head": 32}
    assert {k.split(".")[0] for k in sn.state_dict()} == {"backbone", "reduce", "embed"}  # the SN parameter names
    assert SimpleNetwork(bb, conv_channels=None, embedding_dim=8).reduce.out_channels == 4096  # the gap head's
    sn = SimpleNetwork(bb, conv_channels=None, embedding_dim=8, head="flatten", input_size=(64, 64))
    assert sn.feature_sizes == {"head": 1024 * 2 * 2}
    assert sn.gradcam_target_layers() == [sn.reduce]


def test_input_size_is_required_and_checked():
    bb = Backbone("resnet18", pretrained=False)
    with pytest.raises(ValueError, match="input_size"):
        PAResNet(bb, branches=ONE)
    m = PAResNet(bb, conv_channels=8, branches=ONE, embedding_dim=4, input_size=(64, 64))
    with pytest.raises(ValueError, match="built for input_size"):
        m(torch.randn(1, 3, 96, 96))


def test_branch_options():
    b = Branch(16, downsample=8, channels=4, attention="none", pool="avg", num_convs=2)
    assert b(torch.randn(2, 16, 32, 32)).shape == (2, 4 * 4 * 4)
    with pytest.raises(ValueError):
        Branch(16, attention="se")
    with pytest.raises(ValueError, match="unknown head"):
        PAResNet(Backbone("resnet18", pretrained=False), head="gem")
