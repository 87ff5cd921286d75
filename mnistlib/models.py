"""Model builders: one function per architecture in the book, Keras 3 only.

Every builder takes images of shape (28, 28, 1) scaled to [0, 1] (see
:func:`mnistlib.datasets.as_float`), returns a compiled ``keras.Model`` with a
softmax output over the ten digits, and names the chapter that introduces it.
The code uses ``keras.layers`` and ``keras.ops`` only, so it runs on any Keras
backend (TensorFlow by default, JAX on a GPU machine).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import keras
import numpy as np
from keras import layers, ops

__all__ = [
    "INPUT_SHAPE",
    "PIXEL_MEAN",
    "PIXEL_STD",
    "compile_classifier",
    "softmax_regression",
    "mlp_256",
    "mlp_sigmoid_100",
    "deep_mlp",
    "augmentation",
    "keras_augmentation",
    "RandomAffine",
    "RandomShear",
    "simple_cnn",
    "vgg_like",
    "bn_cnn",
    "standard_cnn",
    "resnet",
    "RESNET_STAGES",
    "RESNET_BLOCKS",
    "KERAS_BN_MOMENTUM",
    "BUILDERS",
    "AUGMENTATION",
    "build",
]

INPUT_SHAPE = (28, 28, 1)
#: Mean and standard deviation of MNIST's training pixels in [0, 1] (chapter 02).
PIXEL_MEAN, PIXEL_STD = 0.1307, 0.3081


def compile_classifier(model: keras.Model, optimizer="rmsprop", learning_rate: float | None = None) -> keras.Model:
    """Compile ``model`` for ten-class classification with integer labels; return it.

    ``optimizer`` is a Keras optimizer name or instance; ``learning_rate``, if
    given, overrides its default. Introduced in chapter 04 (``04_mlp``).
    """
    if isinstance(optimizer, str):
        optimizer = keras.optimizers.get({"class_name": optimizer, "config": {}})
    if learning_rate is not None:
        optimizer.learning_rate = learning_rate
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _inputs(normalise: bool):
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = layers.Flatten(name="pixels")(inputs)
    if normalise:
        # Fixed constants: nothing to adapt, and no statistic of the test set leaks in.
        x = layers.Normalization(mean=PIXEL_MEAN, variance=PIXEL_STD**2, name="standardise")(x)
    return inputs, x


def _classifier(inputs, x, name: str, optimizer, learning_rate) -> keras.Model:
    """The ten-way softmax output on top of ``x``, compiled."""
    outputs = layers.Dense(10, activation="softmax", name="softmax")(x)
    return compile_classifier(keras.Model(inputs, outputs, name=name), optimizer, learning_rate)


def softmax_regression(optimizer="adam", learning_rate: float | None = None) -> keras.Model:
    """Multinomial logistic regression: standardised pixels, one dense softmax layer (7,850 parameters).

    Introduced in chapter 03 (``03_linear_models``).
    """
    inputs, x = _inputs(normalise=True)
    return _classifier(inputs, x, "softmax_regression", optimizer, learning_rate)


def _one_hidden_layer(units: int, activation: str, name: str, optimizer, learning_rate) -> keras.Model:
    inputs, x = _inputs(normalise=False)
    x = layers.Dense(units, activation=activation, name="hidden")(x)
    return _classifier(inputs, x, name, optimizer, learning_rate)


def mlp_256(optimizer="rmsprop", learning_rate: float | None = None) -> keras.Model:
    """The original experiment's 784-256-10 MLP with ReLU, trained with RMSprop (203,530 parameters).

    Introduced in chapter 04 (``04_mlp``).
    """
    return _one_hidden_layer(256, "relu", "mlp_256", optimizer, learning_rate)


def mlp_sigmoid_100(optimizer="rmsprop", learning_rate: float | None = None) -> keras.Model:
    """784-100-10 with sigmoid hidden units, the classic shallow net (79,510 parameters).

    Introduced in chapter 04 (``04_mlp``).
    """
    return _one_hidden_layer(100, "sigmoid", "mlp_sigmoid_100", optimizer, learning_rate)


def deep_mlp(dropout: float = 0.0, optimizer="adam", learning_rate: float | None = None) -> keras.Model:
    """784-256-128-64-32-10 with ReLU, optional dropout after each hidden layer (244,522 parameters).

    Introduced in chapter 04 (``04_mlp``).
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"deep_mlp: dropout must be in [0, 1), got {dropout}")
    inputs, x = _inputs(normalise=False)
    for i, width in enumerate((256, 128, 64, 32)):
        x = layers.Dense(width, activation="relu", name=f"hidden_{i + 1}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{i + 1}")(x)
    return _classifier(inputs, x, "deep_mlp" + (f"_dropout{dropout:g}" if dropout else ""), optimizer, learning_rate)


@keras.saving.register_keras_serializable(package="mnistlib")
class RandomShear(layers.RandomShear):
    """``keras.layers.RandomShear`` that can be loaded back from a saved model.

    Keras 3 saves the shear factors as the ranges ``[-f, f]``, which its own
    constructor then rejects; this subclass accepts what it saved.
    """

    def __init__(self, x_factor=0.0, y_factor=0.0, **kwargs):
        super().__init__(self._unrange(x_factor), self._unrange(y_factor), **kwargs)

    @staticmethod
    def _unrange(factor):
        symmetric = isinstance(factor, (list, tuple)) and len(factor) == 2 and float(factor[0]) == -float(factor[1])
        return abs(float(factor[1])) if symmetric else factor


@keras.saving.register_keras_serializable(package="mnistlib")
class RandomAffine(layers.Layer):
    """One random affine transformation per image: rotation, zoom, slant and shift, resampled once.

    For every image in a training batch it draws a rotation of up to
    ``rotation`` degrees, a zoom factor within ``1 ± zoom``, a horizontal
    slant (shear) of up to ``shear`` and a shift of up to ``shift`` of the
    image size in each direction, composes them into one affine map about the
    image centre, and samples the image once with bilinear interpolation,
    filling uncovered pixels with background (0). Keras's four separate layers
    (``RandomRotation``, ``RandomZoom``, ``RandomShear``, ``RandomTranslation``)
    resample the image four times: four times the work and four rounds of
    blurring. This layer uses ``keras.ops`` only (its gathers are
    ``take_along_axis``), so it runs inside the compiled training step on any
    backend. It is active only when called with ``training=True``.
    Introduced in chapter 06 (``06_augmentation``).
    """

    def __init__(
        self,
        shift: float = 0.1,
        rotation: float = 10.0,
        zoom: float = 0.1,
        shear: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.shift, self.rotation, self.zoom, self.shear = float(shift), float(rotation), float(zoom), float(shear)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "shift": self.shift,
            "rotation": self.rotation,
            "zoom": self.zoom,
            "shear": self.shear,
            "seed": self.seed,
        }

    def compute_output_shape(self, input_shape):
        return input_shape

    def call(self, images, training=None):
        if not training:
            return images
        h, w = images.shape[1], images.shape[2]
        u = keras.random.uniform((ops.shape(images)[0], 5), -1.0, 1.0, seed=self.seed_generator)
        return self.transform(
            images,
            angle=u[:, 0] * (self.rotation * math.pi / 180.0),
            scale=1.0 + u[:, 1] * self.zoom,
            shear=u[:, 2] * self.shear,
            dx=u[:, 3] * (self.shift * w),
            dy=u[:, 4] * (self.shift * h),
        )

    @staticmethod
    def transform(images, angle, scale, shear, dx, dy):
        """Apply one affine map per image (each argument: one value per image) with bilinear sampling.

        The output pixel at offset ``p`` from the centre ``c`` takes the input
        at ``c - (dx, dy) + R(angle) @ [[1, shear], [0, 1]] @ (scale * p)``:
        ``dx, dy`` shift the digit right and down by that many pixels, a
        ``scale`` above 1 makes it smaller, a positive ``angle`` (radians)
        turns it anticlockwise on screen. Pixels mapped from outside the image are 0.
        """
        n = ops.shape(images)[0]
        h, w, c = images.shape[1], images.shape[2], images.shape[3]
        cos, sin = ops.cos(angle), ops.sin(angle)
        col = lambda v: ops.expand_dims(ops.cast(v, images.dtype), 1)  # noqa: E731 (one value per image)
        a00, a01 = col(scale * cos), col(scale * (cos * shear - sin))
        a10, a11 = col(scale * sin), col(scale * (sin * shear + cos))
        cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
        yy, xx = np.meshgrid(np.arange(h) - cy, np.arange(w) - cx, indexing="ij")
        xx = ops.convert_to_tensor(xx.reshape(1, -1), dtype=images.dtype)
        yy = ops.convert_to_tensor(yy.reshape(1, -1), dtype=images.dtype)
        sx = a00 * xx + a01 * yy + (cx - col(dx))
        sy = a10 * xx + a11 * yy + (cy - col(dy))
        x0, y0 = ops.floor(sx), ops.floor(sy)
        fx, fy = sx - x0, sy - y0
        flat = ops.reshape(images, (n, h * w, c))
        out = None
        for yi, wy in ((y0, 1.0 - fy), (y0 + 1.0, fy)):
            for xi, wx in ((x0, 1.0 - fx), (x0 + 1.0, fx)):
                inside = ops.cast((xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1), images.dtype)
                index = ops.cast(ops.clip(yi, 0, h - 1) * w + ops.clip(xi, 0, w - 1), "int32")
                corner = ops.take_along_axis(flat, ops.expand_dims(index, -1), axis=1)
                corner = corner * ops.expand_dims(wx * wy * inside, -1)
                out = corner if out is None else out + corner
        return ops.reshape(out, (n, h, w, c))


def _check_augmentation(shift: float, rotation: float, zoom: float, shear: float) -> None:
    for arg, value in (("shift", shift), ("rotation", rotation), ("zoom", zoom), ("shear", shear)):
        if not 0.0 <= value or (arg != "rotation" and value >= 1.0) or (arg == "rotation" and value > 180):
            raise ValueError(f"augmentation: {arg}={value!r} is out of range")
    if not any((shift, rotation, zoom, shear)):
        raise ValueError("augmentation: every transformation is switched off")


def augmentation(
    shift: float = 0.1, rotation: float = 10.0, zoom: float = 0.1, shear: float = 0.0, seed: int | None = None
) -> keras.Sequential:
    """Random shifts, rotations, zooms and slants as one preprocessing layer, :class:`RandomAffine`.

    ``shift`` and ``zoom`` are fractions of the image size (0.1 of 28 pixels is
    up to about 3 pixels), ``rotation`` is in degrees, ``shear`` a slant factor
    (0 leaves it out). Empty space is filled with background (0), never
    reflected. The layer changes images only when called with
    ``training=True`` (inside ``fit``); at inference it passes images through,
    so validation and test digits are never augmented. The result is a
    ``keras.Sequential`` named ``augmentation`` holding the layer ``affine``.
    Introduced in chapter 05 (``05_cnn``).
    """
    _check_augmentation(shift, rotation, zoom, shear)
    return keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE, name="augmentation_input"),
            RandomAffine(shift, rotation, zoom, shear, seed=seed, name="affine"),
        ],
        name="augmentation",
    )


def keras_augmentation(
    shift: float = 0.1, rotation: float = 10.0, zoom: float = 0.1, shear: float = 0.0, seed: int | None = None
) -> keras.Sequential:
    """The same augmentation as :func:`augmentation`, chained from Keras's built-in layers, one per transformation.

    ``RandomRotation``, ``RandomZoom``, ``RandomShear`` and ``RandomTranslation``
    each resample the image, so the chain interpolates up to four times; chapter
    06 compares its speed with the single :class:`RandomAffine`. Its shear
    slants in both directions, as Keras's layer does.
    Introduced in chapter 06 (``06_augmentation``).
    """
    _check_augmentation(shift, rotation, zoom, shear)
    fill = {"fill_mode": "constant", "fill_value": 0.0}
    steps = []
    if rotation:
        steps.append(layers.RandomRotation(rotation / 360.0, seed=seed, name="rotate", **fill))
    if zoom:
        steps.append(layers.RandomZoom(zoom, seed=seed, name="zoom", **fill))
    if shear:
        steps.append(RandomShear(shear, shear, seed=seed, name="shear", **fill))
    if shift:
        steps.append(layers.RandomTranslation(shift, shift, seed=seed, name="shift", **fill))
    return keras.Sequential(
        [keras.Input(shape=INPUT_SHAPE, name="augmentation_input"), *steps], name="keras_augmentation"
    )


def _image_inputs(augment: dict | None):
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = augmentation(**augment)(inputs) if augment else inputs
    return inputs, x


#: Momentum of the batch-normalisation running averages. Keras's default, 0.99, needs several hundred
#: steps before inference-mode statistics are usable; 0.9 needs a few dozen, so short runs validate sensibly.
BN_MOMENTUM = 0.9


def _conv(x, filters: int, size: int, name: str, *, strides: int = 1, padding: str = "same", batch_norm: bool = False):
    """Convolution, then batch normalisation if asked, then ReLU (the order of Ioffe and Szegedy)."""
    if not batch_norm:
        return layers.Conv2D(filters, size, strides=strides, padding=padding, activation="relu", name=name)(x)
    x = layers.Conv2D(filters, size, strides=strides, padding=padding, name=name)(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _dense(x, units: int, name: str, *, batch_norm: bool = False, dropout: float = 0.0):
    if batch_norm:
        x = layers.Dense(units, name=name)(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
        x = layers.Activation("relu", name=f"{name}_relu")(x)
    else:
        x = layers.Dense(units, activation="relu", name=name)(x)
    return layers.Dropout(dropout, name=f"{name}_dropout")(x) if dropout else x


def simple_cnn(optimizer="rmsprop", learning_rate: float | None = None, augment: dict | None = None) -> keras.Model:
    """conv32-pool-conv64-pool-conv64, dense 128, softmax; 3x3 valid convolutions (130,890 parameters).

    ``augment``: keyword arguments of :func:`augmentation`, or ``None``.
    Introduced in chapter 05 (``05_cnn``).
    """
    inputs, x = _image_inputs(augment)
    x = _conv(x, 32, 3, "conv1", padding="valid")
    x = layers.MaxPooling2D(name="pool1")(x)
    x = _conv(x, 64, 3, "conv2", padding="valid")
    x = layers.MaxPooling2D(name="pool2")(x)
    x = _conv(x, 64, 3, "conv3", padding="valid")
    x = _dense(layers.Flatten(name="flatten")(x), 128, "dense")
    return _classifier(inputs, x, "simple_cnn", optimizer, learning_rate)


def vgg_like(
    batch_norm: bool = False, optimizer="adam", learning_rate: float | None = None, augment: dict | None = None
) -> keras.Model:
    """3x3 convolutions 10-10-pool-20-20-pool-40-40-pool, dense 400-400 with dropout 0.5/0.6.

    336,940 parameters; with ``batch_norm`` a batch normalisation after every
    convolution and hidden dense layer, 340,700 (the variant of chapter 07,
    ``07_batch_normalization``). Introduced in chapter 05 (``05_cnn``).
    """
    inputs, x = _image_inputs(augment)
    for block, filters in enumerate((10, 20, 40), start=1):
        x = _conv(x, filters, 3, f"conv{block}a", batch_norm=batch_norm)
        x = _conv(x, filters, 3, f"conv{block}b", batch_norm=batch_norm)
        x = layers.MaxPooling2D(name=f"pool{block}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = _dense(x, 400, "dense1", batch_norm=batch_norm, dropout=0.5)
    x = _dense(x, 400, "dense2", batch_norm=batch_norm, dropout=0.6)
    return _classifier(inputs, x, "vgg_like_bn" if batch_norm else "vgg_like", optimizer, learning_rate)


def bn_cnn(optimizer="adam", learning_rate: float | None = None, augment: dict | None = None) -> keras.Model:
    """Batch-normalised CNN with strided 5x5 convolutions instead of pooling (597,066 parameters).

    Blocks 32-32-32/2 and 64-64-64/2 (3x3, 3x3, then 5x5 with stride 2, each
    followed by batch normalisation and ReLU, dropout 0.3 after each block),
    dense 128 with dropout 0.4. Introduced in chapter 06 (``06_augmentation``).
    """
    inputs, x = _image_inputs(augment)
    for block, filters in enumerate((32, 64), start=1):
        x = _conv(x, filters, 3, f"conv{block}a", batch_norm=True)
        x = _conv(x, filters, 3, f"conv{block}b", batch_norm=True)
        x = _conv(x, filters, 5, f"conv{block}s", strides=2, batch_norm=True)
        x = layers.Dropout(0.3, name=f"block{block}_dropout")(x)
    x = _dense(layers.Flatten(name="flatten")(x), 128, "dense", dropout=0.4)
    return _classifier(inputs, x, "bn_cnn", optimizer, learning_rate)


def standard_cnn(optimizer="adam", learning_rate: float | None = None, augment: dict | None = None) -> keras.Model:
    """Three 5x5 convolutions 256-256-128 without pooling, dense 328-192 (35,445,522 parameters).

    The original experiments' "standard CNN": big (its weights take about 135 MiB) and slow on
    a CPU, since every convolution runs at full 28x28 resolution. Introduced in
    chapter 06 (``06_augmentation``).
    """
    inputs, x = _image_inputs(augment)
    for i, filters in enumerate((256, 256, 128), start=1):
        x = _conv(x, filters, 5, f"conv{i}")
    x = layers.Flatten(name="flatten")(x)
    x = _dense(x, 328, "dense1")
    x = _dense(x, 192, "dense2")
    return _classifier(inputs, x, "standard_cnn", optimizer, learning_rate)


#: The ResNet's stages: (filters of the three convolutions of a bottleneck block, stride of its first block).
RESNET_STAGES = (((64, 64, 256), 1), ((128, 128, 512), 2), ((256, 256, 1024), 2))
#: Bottleneck blocks per stage in the original experiment's ResNet (ResNet-50's first three stages).
RESNET_BLOCKS = (3, 4, 6)


def _bottleneck(x, filters: tuple[int, int, int], name: str, *, strides: int, conv_block: bool, bn_momentum: float):
    """A bottleneck block as the original experiment builds it: 1x1 reduce, 3x3, 1x1 expand.

    Each convolution is batch-normalised and followed by a PReLU (one slope per
    element, Keras's default), except that a *conv block* (``conv_block=True``,
    the first block of a stage) leaves its third convolution without one and
    projects the shortcut with a 1x1 convolution of the same stride and a
    batch normalisation, because its output has another shape than its input.
    An *identity block* adds its input unchanged. Then the sum, then a PReLU.
    """
    f1, f2, f3 = filters
    y = layers.Conv2D(f1, 1, strides=strides, name=f"{name}_reduce")(x)
    y = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_reduce_bn")(y)
    y = layers.PReLU(name=f"{name}_reduce_prelu")(y)
    y = layers.Conv2D(f2, 3, padding="same", name=f"{name}_conv")(y)
    y = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_conv_bn")(y)
    y = layers.PReLU(name=f"{name}_conv_prelu")(y)
    y = layers.Conv2D(f3, 1, name=f"{name}_expand")(y)
    y = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_expand_bn")(y)
    if conv_block:
        shortcut = layers.Conv2D(f3, 1, strides=strides, name=f"{name}_shortcut")(x)
        shortcut = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_shortcut_bn")(shortcut)
    else:
        y = layers.PReLU(name=f"{name}_expand_prelu")(y)
        shortcut = x
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.PReLU(name=f"{name}_out")(y)


#: Keras's default momentum of the batch-normalisation running averages, which the original ResNet keeps.
KERAS_BN_MOMENTUM = 0.99


def resnet(
    blocks: tuple[int, int, int] = RESNET_BLOCKS,
    decay_steps: int | None = None,
    learning_rate: float = 1e-3,
    bn_momentum: float = KERAS_BN_MOMENTUM,
    augment: dict | None = None,
    width: float | None = None,
) -> keras.Model:
    """The original experiment's bottleneck ResNet for 28x28 digits (8,764,426 parameters), compiled with Nadam.

    The stem pads the digit with 3 zeros on every side (34x34), applies a 7x7
    convolution of 64 filters with stride 2 and no padding (14x14), batch
    normalisation, a PReLU and a 3x3 max pool with stride 2 and no padding
    (6x6). Three stages of bottleneck blocks follow (:func:`_bottleneck`),
    [64, 64, 256] x 3, [128, 128, 512] x 4 and [256, 256, 1024] x 6
    (:data:`RESNET_STAGES`, ``blocks``), each opening with a conv block (stride 1,
    then 2, 2) and continuing with identity blocks, on 6x6, 3x3 and 2x2 maps;
    then a 2x2 average pool, a flatten and a dense softmax of 10. Every PReLU
    learns one slope per element, so the count depends on the input size.
    Nadam at ``learning_rate`` (Keras's default, 0.001), constant unless
    ``decay_steps`` is given: then it decays along a cosine over that many
    optimizer steps, a schedule whose position lives in the optimizer's step
    counter, which a weights-only checkpoint loses. ``bn_momentum`` defaults to
    Keras's 0.99, as in the original. ``width`` scales the filters of every
    convolution (at least 1 each; ``None``: the original's). Introduced in
    chapter 08 (``08_resnet_qmnist``).
    """
    if len(blocks) != len(RESNET_STAGES) or min(blocks) < 1:
        raise ValueError(f"resnet: blocks must be {len(RESNET_STAGES)} counts of at least 1, got {blocks!r}")
    if width is not None and not width > 0:
        raise ValueError(f"resnet: width must be a positive fraction of the original's filters, got {width!r}")

    def scaled(n: int) -> int:
        return n if width is None else max(1, round(n * width))

    inputs, x = _image_inputs(augment)
    x = layers.ZeroPadding2D(3, name="stem_padding")(x)
    x = layers.Conv2D(scaled(64), 7, strides=2, name="stem")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name="stem_bn")(x)
    x = layers.PReLU(name="stem_prelu")(x)
    x = layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    for stage, ((filters, strides), n_blocks) in enumerate(zip(RESNET_STAGES, blocks), start=1):
        for block in range(n_blocks):
            x = _bottleneck(
                x,
                tuple(scaled(f) for f in filters),
                f"stage{stage}_block{block + 1}",
                strides=strides if block == 0 else 1,
                conv_block=block == 0,
                bn_momentum=bn_momentum,
            )
    x = layers.AveragePooling2D(2, name="average_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    rate = learning_rate if decay_steps is None else keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps)
    return _classifier(inputs, x, "resnet", keras.optimizers.Nadam(learning_rate=rate), None)


#: Every builder by name, for the load-or-train cache and the results ledger.
BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "softmax_regression": softmax_regression,
    "mlp_256": mlp_256,
    "mlp_sigmoid_100": mlp_sigmoid_100,
    "deep_mlp": deep_mlp,
    "simple_cnn": simple_cnn,
    "vgg_like": vgg_like,
    "bn_cnn": bn_cnn,
    "standard_cnn": standard_cnn,
    "resnet": resnet,
}


#: The book's augmentation (chapter 06): shifts of up to 10% (about 3 pixels), rotations of up to 10 degrees,
#: zoom and shear of up to 10%.
AUGMENTATION = {"shift": 0.1, "rotation": 10.0, "zoom": 0.1, "shear": 0.1}


def build(name: str, **config) -> keras.Model:
    """Build the architecture registered as ``name`` with keyword ``config``.

    Introduced in chapter 07 (``07_batch_normalization``).
    """
    try:
        builder = BUILDERS[name]
    except KeyError:
        raise KeyError(f"no model builder named {name!r}; known: {', '.join(BUILDERS)}") from None
    return builder(**config)
