"""On paper: what one training step of the default models computes and all-reduces, and where spreading a fixed
global batch over more GPUs or hosts stops paying off.

    python benchmarks/scaling_estimate.py [--cpu-ms-per-step GAN_MS VAE_MS]

Counted from the built models (no training): trainable parameters, so the float32 gradient bytes every step
all-reduces, and multiply-adds per image (convolutions, transposed convolutions, dense layers; x2 for FLOPs, x3 for
forward + backward). A GAN step runs the generator once and the discriminator on real and generated images. The
step-time model is an estimate under the ASSUMPTIONS below, not a measurement: no GPU with TensorFlow was available.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import augment_tf  # noqa: E402

augment_tf.load_tensorflow()  # first: TensorFlow without the start-up notes keras's import would print
from augment_tf import cli  # noqa: E402
from augment_tf.models import ConditionalGAN, ConditionalVAE  # noqa: E402

import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

ASSUMPTIONS = {
    "gpu_flops": 10e12,  # sustained FLOP/s of one GPU on these small float32 convolutions (a fraction of peak)
    "step_overhead_s": 2e-3,  # per step and replica: kernel launches, input pipeline, Python (small models pay it)
    "nvlink_bytes_per_s": 100e9,  # all-reduce bus bandwidth between 8 GPUs of one host
    "network_bytes_per_s": 25e9 / 8,  # 25 Gb/s Ethernet between hosts
    "allreduce_latency_s": 50e-6,  # per ring hop
}
GLOBAL_BATCH = 128


def multiply_adds(network):
    """Multiply-adds of one image through `network`'s convolutions and dense layers (nested networks included)."""
    total = 0
    for layer in network._flatten_layers(include_self=False):
        if isinstance(layer, layers.Conv2DTranspose):
            height, width, _ = layer.input.shape[1:]
            total += height * width * np.prod(layer.kernel.shape)  # every input pixel meets the whole kernel
        elif isinstance(layer, layers.Conv2D):
            height, width, _ = layer.output.shape[1:]
            total += height * width * np.prod(layer.kernel.shape)
        elif isinstance(layer, layers.Dense):
            total += np.prod(layer.kernel.shape)
    return int(total)


def step_cost(kind, image_shape, width):
    """(trainable parameters, training FLOPs per image) of one step of the default model at `width`."""
    if kind == "gan":
        model = ConditionalGAN(num_classes=10, image_shape=image_shape, width=width)
        forward = multiply_adds(model.generator) + 2 * multiply_adds(model.discriminator)
    else:
        model = ConditionalVAE(num_classes=10, image_shape=image_shape, width=width, latent_dim=16)
        forward = multiply_adds(model.encoder) + multiply_adds(model.decoder)
    parameters = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    return parameters, 3 * 2 * forward


def step_seconds(flops_per_image, parameters, devices, bandwidth, per_replica_batch, ring, a=ASSUMPTIONS):
    """Estimated time of one step on `devices` replicas: compute of the per-replica batch plus the all-reduce of the
    float32 gradients. A ring (multi-worker's collectives) sends 2 (n-1)/n of the bytes over each link, with 2 (n-1)
    latencies; reducing through one device (what `--strategy mirrored` does) sends every other replica's gradients
    into it and the sum back out over its link: 2 (n-1) times the bytes."""
    compute = flops_per_image * per_replica_batch / a["gpu_flops"] + a["step_overhead_s"]
    if devices == 1:
        return compute
    shares = 2 * (devices - 1) / devices if ring else 2 * (devices - 1)
    return compute + shares * 4 * parameters / bandwidth + 2 * (devices - 1) * a["allreduce_latency_s"]


def speed_ups(flops, parameters, counts, bandwidth, ring):
    """Images/s on n replicas over images/s on one, (global batch fixed at GLOBAL_BATCH, per-replica batch fixed at
    GLOBAL_BATCH), for each n in `counts`."""
    one = step_seconds(flops, parameters, 1, bandwidth, GLOBAL_BATCH, ring)
    fixed_global = [one / step_seconds(flops, parameters, n, bandwidth, GLOBAL_BATCH / n, ring) for n in counts]
    fixed_per_replica = [n * one / step_seconds(flops, parameters, n, bandwidth, GLOBAL_BATCH, ring) for n in counts]
    return fixed_global, fixed_per_replica


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-ms-per-step", nargs=2, type=float, metavar=("GAN", "VAE"),
                        help="measured ms per step on one CPU device (benchmarks/distributed.py), to report the FLOP/s "
                        "it implies")
    args = parser.parse_args(argv)
    settings = [("gan", (28, 28, 1), 32), ("vae", (28, 28, 1), 32), ("gan", (32, 32, 3), 64), ("gan", (32, 32, 3), 128)]
    print("| model | images | width | trainable parameters | gradient MB per step | GFLOP per training image | "
          "est. speed-up, 2 / 4 / 8 GPUs of one host, mirrored (through one GPU): global batch 128 ; 128 per GPU | "
          "the same with a ring all-reduce | 2 / 4 hosts, multi-worker (ring, 25 Gb/s): global batch 128 ; 128 per host |")
    print("|---|---|---|---|---|---|---|---|---|")
    joined = lambda values: " / ".join(f"{v:.2f}" for v in values)
    for kind, shape, width in settings:
        parameters, flops = step_cost(kind, shape, width)
        gpus = speed_ups(flops, parameters, (2, 4, 8), ASSUMPTIONS["nvlink_bytes_per_s"], ring=False)
        ring = speed_ups(flops, parameters, (2, 4, 8), ASSUMPTIONS["nvlink_bytes_per_s"], ring=True)
        hosts = speed_ups(flops, parameters, (2, 4), ASSUMPTIONS["network_bytes_per_s"], ring=True)
        print(f"| {kind} | {'x'.join(map(str, shape))} | {width} | {parameters:,} | {4 * parameters / 1e6:.2f} | "
              f"{flops / 1e9:.3f} | {joined(gpus[0])} ; {joined(gpus[1])} | {joined(ring[0])} ; {joined(ring[1])} | "
              f"{joined(hosts[0])} ; {joined(hosts[1])} |")
        if args.cpu_ms_per_step and shape == (28, 28, 1):
            ms = args.cpu_ms_per_step[0 if kind == "gan" else 1]
            print(f"|  | one CPU device, measured {ms:.1f} ms/step: {flops * GLOBAL_BATCH / (ms / 1000) / 1e9:.0f} "
                  "GFLOP/s achieved | | | | | | | |")
    print(f"\nAssumptions: {ASSUMPTIONS}")


if __name__ == "__main__":
    cli.run(main)
