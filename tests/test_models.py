"""mnistlib.models: the builders, their parameter counts, augmentation layers."""

import keras
import numpy as np
import pytest

from mnistlib import models, training


@pytest.mark.parametrize(
    "name,config,params",
    [
        ("softmax_regression", {}, 7_850),
        ("mlp_256", {}, 203_530),  # the original experiment's count
        ("mlp_sigmoid_100", {}, 79_510),
        ("deep_mlp", {}, 244_522),
        ("deep_mlp", {"dropout": 0.3}, 244_522),
        ("simple_cnn", {}, 130_890),  # the original experiments' counts from here on
        ("simple_cnn", {"augment": {"shift": 0.1}}, 130_890),  # augmentation adds no parameters
        ("vgg_like", {}, 336_940),
        ("vgg_like", {"batch_norm": True}, 340_700),
        ("bn_cnn", {}, 597_066),
        ("standard_cnn", {}, 35_445_522),
        ("resnet", {}, 8_764_426),  # the original experiment's count
        ("resnet", {"decay_steps": 100}, 8_764_426),  # a schedule adds no parameters
        ("resnet", {"blocks": (1, 1, 1)}, 2_033_418),  # the reduced profiles' depth
        ("resnet", {"blocks": (1, 1, 1), "width": 0.5}, 527_242),  # and width
    ],
)
def test_builders_parameter_counts_and_shapes(name, config, params):
    model = models.build(name, **config)
    assert model.count_params() == params
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    out = model.predict(np.zeros((2, 28, 28, 1), np.float32), verbose=0)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    assert model.optimizer is not None and model.loss == "sparse_categorical_crossentropy"


def test_resnet_is_the_original_architecture():
    """Experiment A's ResNet: the stem, the 6x6/3x3/2x2 stages, per-element PReLU, the blocks' layer order."""
    model = models.resnet()
    shape = lambda name: tuple(model.get_layer(name).output.shape[1:])  # noqa: E731
    assert shape("stem_padding") == (34, 34, 1) and shape("stem") == (14, 14, 64) and shape("stem_pool") == (6, 6, 64)
    assert model.get_layer("stem").padding == "valid" and model.get_layer("stem").strides == (2, 2)
    assert model.get_layer("stem_pool").pool_size == (3, 3) and model.get_layer("stem_pool").padding == "valid"
    stage_outputs = [shape(f"stage{s}_block{n}_out") for s, n in zip((1, 2, 3), models.RESNET_BLOCKS)]
    assert stage_outputs == [(6, 6, 256), (3, 3, 512), (2, 2, 1024)]
    assert [model.get_layer(f"stage{s}_block1_reduce").strides for s in (1, 2, 3)] == [(1, 1), (2, 2), (2, 2)]
    assert shape("average_pool") == (1, 1, 1024) and shape("flatten") == (1024,)
    prelus = [layer for layer in model.layers if isinstance(layer, keras.layers.PReLU)]
    # the stem, 3 per conv block, 4 per identity block; one slope per element of the layer's input
    assert len(prelus) == 1 + 3 * 3 + 4 * (sum(models.RESNET_BLOCKS) - 3)
    assert all(tuple(p.alpha.shape) == tuple(p.input.shape[1:]) for p in prelus)
    names = [layer.name for layer in model.layers]
    conv_block = [n for n in names if n.startswith("stage2_block1_")]
    identity_block = [n for n in names if n.startswith("stage2_block2_")]
    assert "stage2_block1_shortcut_bn" in conv_block and "stage2_block1_expand_prelu" not in conv_block
    assert "stage2_block2_expand_prelu" in identity_block and "stage2_block2_shortcut" not in identity_block
    assert identity_block.index("stage2_block2_expand_prelu") < identity_block.index("stage2_block2_add")
    assert {layer.momentum for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)} == {0.99}
    assert isinstance(model.optimizer, keras.optimizers.Nadam)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    model.optimizer.iterations.assign(10_000)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3), "the original's rate is constant"


def test_resnet_schedule_and_depth():
    model = models.resnet(blocks=(1, 1, 1), decay_steps=10, bn_momentum=0.9)
    assert [tuple(model.get_layer(f"stage{s}_block1_out").output.shape[1:]) for s in (1, 2, 3)] == [
        (6, 6, 256),
        (3, 3, 512),
        (2, 2, 1024),
    ]
    assert {layer.momentum for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)} == {0.9}
    lr = model.optimizer.learning_rate
    model.optimizer.iterations.assign(10)
    assert float(model.optimizer.learning_rate) == 0.0 < float(lr)
    with pytest.raises(ValueError, match="resnet: blocks must be 3 counts of at least 1"):
        models.resnet(blocks=(3, 4))
    narrow = models.resnet(blocks=(1, 1, 1), width=0.5)
    assert narrow.get_layer("stem").filters == 32
    assert [tuple(narrow.get_layer(f"stage{s}_block1_out").output.shape[1:]) for s in (1, 2, 3)] == [
        (6, 6, 128),
        (3, 3, 256),
        (2, 2, 512),
    ]
    for bad in (0, -0.5):
        with pytest.raises(ValueError, match="resnet: width must be a positive fraction"):
            models.resnet(blocks=(1, 1, 1), width=bad)


def test_build_errors():
    with pytest.raises(KeyError, match="no model builder named 'lenet'"):
        models.build("lenet")
    with pytest.raises(ValueError, match="dropout must be in"):
        models.deep_mlp(dropout=1.0)


def test_augmentation_only_while_training():
    """Augmentation layers change images in fit (training=True) and never at inference."""
    rng = np.random.default_rng(1)
    x = np.zeros((8, 28, 28, 1), np.float32)
    x[:, 8:20, 12:16, 0] = 1.0  # a vertical bar: any shift, rotation or zoom moves ink
    aug = models.augmentation(shift=0.1, rotation=10, zoom=0.1, shear=0.1, seed=3)
    trained = keras.ops.convert_to_numpy(aug(x, training=True))
    assert trained.shape == x.shape and not np.allclose(trained, x)
    assert trained.min() >= -1e-6 and trained.max() <= 1 + 1e-6  # background fill, no reflection artefacts
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(aug(x, training=False)), x)
    model = models.simple_cnn(augment={"shift": 0.1, "rotation": 10, "zoom": 0.1})
    batch = rng.random((16, 28, 28, 1)).astype(np.float32)
    first, second = (model.predict(batch, verbose=0) for _ in range(2))
    np.testing.assert_array_equal(first, second)
    inner = keras.Model(model.get_layer("augmentation").output, model.output)  # the same net without augmentation
    np.testing.assert_allclose(first, inner.predict(batch, verbose=0), rtol=1e-5, atol=1e-6)


def test_augmented_model_saves_and_loads(tmp_path):
    """The augmentation layer survives a save/load round trip, settings included."""
    model = models.simple_cnn(augment={"shift": 0.1, "rotation": 10, "zoom": 0.1, "shear": 0.2})
    path = training.save_model_atomic(model, tmp_path / "augmented.keras")
    loaded = keras.saving.load_model(path)
    (affine,) = loaded.get_layer("augmentation").layers
    assert isinstance(affine, models.RandomAffine) and affine.name == "affine"
    assert (affine.shift, affine.rotation, affine.zoom, affine.shear) == (0.1, 10.0, 0.1, 0.2)
    x = np.random.default_rng(2).random((4, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_keras_augmentation_chain_saves_and_loads(tmp_path):
    """The chain of Keras's own layers round-trips too (Keras's RandomShear alone does not)."""
    chain = models.keras_augmentation(shift=0.1, rotation=10, zoom=0.1, shear=0.2)
    model = keras.Sequential([chain, keras.layers.Flatten(), keras.layers.Dense(10)])
    model.save(tmp_path / "chain.keras")
    loaded = keras.saving.load_model(tmp_path / "chain.keras")
    assert [layer.name for layer in loaded.layers[0].layers] == ["rotate", "zoom", "shear", "shift"]


def test_random_affine_transform_is_exact():
    """Identity, whole-pixel shifts and quarter turns move pixels exactly; what comes from outside is 0."""
    x = np.zeros((2, 28, 28, 1), np.float32)
    x[:, 5:20, 10:13, 0] = 1.0
    x[1, 3, 3, 0] = 0.5
    zero, one = np.zeros(2, np.float32), np.ones(2, np.float32)
    out = lambda *a: keras.ops.convert_to_numpy(models.RandomAffine.transform(x, *a))  # noqa: E731
    np.testing.assert_array_equal(out(zero, one, zero, zero, zero), x)
    shifted = np.zeros_like(x)
    shifted[:, 0:25, 2:28] = x[:, 3:28, 0:26]  # 2 pixels right, 3 up
    np.testing.assert_array_equal(out(zero, one, zero, 2 * one, -3 * one), shifted)
    np.testing.assert_allclose(
        out(np.full(2, np.pi / 2, np.float32), one, zero, zero, zero), np.rot90(x, 1, axes=(1, 2)), atol=1e-5
    )  # anticlockwise on screen
    smaller = out(zero, 2 * one, zero, zero, zero)  # scale 2: the digit at half size, ink halved by area
    assert abs(smaller.sum() - x.sum() / 4) < 0.1 * x.sum()


def test_random_affine_draws_differ_per_image_and_follow_the_seed():
    x = np.zeros((16, 28, 28, 1), np.float32)
    x[:, 8:20, 12:16, 0] = 1.0
    a, b = (keras.ops.convert_to_numpy(models.RandomAffine(seed=7)(x, training=True)) for _ in range(2))
    np.testing.assert_array_equal(a, b)  # same seed, same draws
    assert len({arr.tobytes() for arr in a}) == len(a)  # a fresh transformation for every image


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"shift": 1.5}, "shift=1.5 is out of range"),
        ({"rotation": -5}, "rotation=-5 is out of range"),
        ({"shift": 0, "rotation": 0, "zoom": 0}, "every transformation is switched off"),
    ],
)
def test_augmentation_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.augmentation(**kwargs)


def test_compile_classifier_learning_rate():
    model = models.mlp_256(learning_rate=0.01)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.01)
