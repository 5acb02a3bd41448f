"""Very large datasets: memory and speed of training from shards (augment_tf.shard_format, augment_tf.sources).

    python benchmarks/streaming.py make --data-dir ../shared/data/mnist --work /tmp/big [--sizes 1000000,8000000]
    python benchmarks/streaming.py memory --work /tmp/big [--steps 300]
    python benchmarks/streaming.py throughput --data-dir ../shared/data/mnist --work /tmp/big [--steps 200 --repeats 3]
    python benchmarks/streaming.py workers --data-dir ../shared/data/mnist --work /tmp/big [--epochs 3]
    python benchmarks/streaming.py augment --data-dir ../shared/data/mnist --work /tmp/big --run runs/cgan \
        --sizes 1000000,10000000

make: a large MNIST-style set, written as shards by a fresh process each: random rotations, zooms, shifts and
elastic distortions of the MNIST training images, with their labels; the writer's own seconds (generation aside)
and the process's peak resident memory. memory: the default cGAN trained --steps steps on each set with --stream
on, and on the smallest also with --stream off (its images in memory), each under /usr/bin/time -v. throughput:
the default cGAN on full MNIST in memory against the same images streamed from shards, same model and steps,
taking turns, the first 20 steps (tracing) untimed; then each input pipeline alone (2,000 batches, no model).
workers: a streamed run on two local workers against one process, and which shards each worker read. augment:
`augment --format shards` of N synthetic samples under /usr/bin/time -v. Results in
benchmarks/results/streaming/STAGE.json; needs the CPU to itself.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from augment_tf import builders, cli, data, files, shard_format  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results", "streaming")
CHUNK = 8192  # images distorted and written at a time
FIELDS = 512  # smooth displacement fields drawn once; each image takes one at a random strength


def distorted_chunks(x, y, n, seed=0):
    """`n` (uint8 images, labels) in chunks: each a random MNIST training image rotated (±15°), zoomed (0.9-1.1),
    shifted (±2 px) and elastically distorted (Simard et al. 2003: a Gaussian-smoothed random field, sigma 4), with
    its label; bilinear, zero outside. Vectorised in numpy: a few seconds per 100k images."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    h, w = x.shape[1:3]
    fields = gaussian_filter(rng.uniform(-1, 1, (FIELDS, 2, h, w)), sigma=(0, 0, 4, 4))
    fields = (fields * 2.0 / np.abs(fields).max(axis=(1, 2, 3), keepdims=True)).astype(np.float32)  # at most 2 px
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    padded = np.pad(x.reshape(len(x), h, w), ((0, 0), (1, 1), (1, 1)))  # zero border: outside samples black
    for start in range(0, n, CHUNK):
        b = min(CHUNK, n - start)
        pick = rng.integers(len(x), size=b)
        angle = np.deg2rad(rng.uniform(-15, 15, b)).astype(np.float32)[:, None, None]
        zoom = rng.uniform(0.9, 1.1, b).astype(np.float32)[:, None, None]
        shift = rng.uniform(-2, 2, (b, 2, 1, 1)).astype(np.float32)
        field = fields[rng.integers(FIELDS, size=b)] * rng.uniform(0, 1, (b, 1, 1, 1)).astype(np.float32)
        dy, dx = rows - cy - shift[:, 0], cols - cx - shift[:, 1]  # the output pixel, about the centre
        src_y = (np.cos(angle) * dy + np.sin(angle) * dx) / zoom + cy + field[:, 0] + 1  # +1: the padding
        src_x = (-np.sin(angle) * dy + np.cos(angle) * dx) / zoom + cx + field[:, 1] + 1
        src_y, src_x = np.clip(src_y, 0, h + 0.999), np.clip(src_x, 0, w + 0.999)
        y0, x0 = src_y.astype(np.int32), src_x.astype(np.int32)  # floor: both are >= 0
        fy, fx = src_y - y0, src_x - x0
        flat, width = padded[pick].reshape(b, -1), w + 2

        def at(yy, xx):
            return np.take_along_axis(flat, (yy * width + xx).reshape(b, -1), axis=1).reshape(b, h, w).astype(np.float32)

        x1, y1 = np.minimum(x0 + 1, w + 1), np.minimum(y0 + 1, h + 1)
        value = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1))
        yield np.clip(np.rint(value), 0, 255).astype(np.uint8), y[pick]


def make_one(data_dir, n, out, seed):
    """In this process: writes `n` distorted images as shards to `out`; returns seconds in all and in the writer."""
    x, y = data.load_arrays("mnist", "train", data_dir)
    generating = [0.0]

    def timed(chunks):
        while True:
            begin = time.perf_counter()
            chunk = next(chunks, None)
            generating[0] += time.perf_counter() - begin
            if chunk is None:
                return
            yield chunk

    begin = time.perf_counter()
    metadata = shard_format.write_shards(timed(distorted_chunks(x, y, n, seed)), out)
    total = time.perf_counter() - begin
    return {"images": n, "seconds": total, "writer_seconds": total - generating[0],
            "generating_seconds": generating[0], "shards": len(metadata["shards"]),
            "bytes": sum(s["bytes"] for s in metadata["shards"])}


def timed_process(command, env=None):
    """(completed process, peak resident MB, wall seconds) of `command` under /usr/bin/time -v."""
    begin = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *command], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    wall = time.perf_counter() - begin
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-3000:]}")
    return done, int(found.group(1)) / 1024, wall


def make(args):
    rows = []
    for n in args.sizes:
        out = os.path.join(args.work, f"distorted-{n}")
        if os.path.isdir(out):
            raise SystemExit(f"{out} exists: remove it, or use another --work")
        done, peak, wall = timed_process([sys.executable, __file__, "make-one", "--data-dir", args.data_dir,
                                          "--n", str(n), "--out", out])
        row = {**json.loads(done.stdout.splitlines()[-1]), "peak_rss_mb": peak, "process_seconds": wall}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def memory(args):
    rows = []
    sizes = sorted(int(name.split("-")[1]) for name in os.listdir(args.work) if name.startswith("distorted-"))
    runs = [(n, "on") for n in sizes] + [(sizes[0], "off")]
    for n, stream in runs:
        out = os.path.join(args.work, f"run-{n}-{stream}")
        command = [sys.executable, "train_gan.py", "--conditional", "--data-dir", os.path.join(args.work,
                   f"distorted-{n}"), "--stream", stream, "--steps", str(args.steps), "--out", out]
        done, peak, wall = timed_process(command)
        row = {"images": n, "stream": stream, "steps": args.steps, "peak_rss_mb": peak, "process_seconds": wall,
               "config": {k: json.load(open(os.path.join(out, "config.json")))[k]
                          for k in ("batch_size", "steps_per_epoch", "epochs", "streamed", "shuffle_buffer")}}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def augment_memory(args):
    """Peak memory of `augment --format shards` writing N synthetic samples (plus MNIST's 60,000 real ones)."""
    rows = []
    for n in args.sizes:
        out = os.path.join(args.work, f"augmented-{n}")
        command = [sys.executable, "-m", "augment_tf.augment", args.run, "--format", "shards", "--synthetic-per-class",
                   str(n // 10), "--real", args.data_dir, "--out", out]
        done, peak, wall = timed_process(command)
        metadata = json.load(open(os.path.join(out, "metadata.json")))
        row = {"synthetic": n, "images": metadata["images"], "shards": len(metadata["shards"]), "peak_rss_mb": peak,
               "process_seconds": wall, "stdout": done.stdout.strip()}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def mnist_shards(args, images_per_shard=None):
    """Full MNIST written as shards under --work (once); returns the folder."""
    folder = os.path.join(args.work, f"mnist-{images_per_shard or 'default'}")
    if not os.path.isdir(folder):
        x, y = data.load_arrays("mnist", "train", args.data_dir)
        shard_format.write_shards([(x, y)], folder, images_per_shard)
    return folder


def throughput(args):
    import keras

    from augment_tf import sources
    from benchmarks.throughput import DEFAULTS, BatchClock

    folder = mnist_shards(args)
    in_memory = sources.Arrays(*data.load_arrays("mnist", "train", args.data_dir), args.data_dir)
    streamed = sources.Shards(folder)
    keras.utils.set_random_seed(0)
    model = builders.build_gan({**DEFAULTS, "jit_compile": "off"})
    datasets = {name: source.dataset(128, seed=0, value_range=tuple(model.value_range))
                for name, source in (("in memory", in_memory), ("streamed from shards", streamed))}
    for dataset in datasets.values():
        model.fit(dataset, epochs=1, steps_per_epoch=20, verbose=0)  # trace, and fill each pipeline's buffers
    rates = {name: [] for name in datasets}
    for _ in range(args.repeats):
        for name, dataset in datasets.items():
            clock = BatchClock()
            model.fit(dataset, epochs=1, steps_per_epoch=args.steps, verbose=0, callbacks=[clock])
            rates[name].append(args.steps * 128 / clock.seconds)
    rows = [{"data": name, "images_per_s": float(np.median(values)), "each_run": values, "steps": args.steps}
            for name, values in rates.items()]
    ratio = rows[1]["images_per_s"] / rows[0]["images_per_s"]
    print(json.dumps(rows), f"\nstreamed / in memory: {ratio:.3f}", flush=True)
    pipeline = {}  # the input pipeline alone: how fast one process can feed a faster device
    for name, dataset in datasets.items():
        batches = iter(dataset)
        for _ in range(50):
            next(batches)
        begin = time.perf_counter()
        for _ in range(2000):
            next(batches)
        pipeline[name] = 2000 * 128 / (time.perf_counter() - begin)
    print("input pipeline alone, images/s:", json.dumps(pipeline), flush=True)
    return {"rows": rows, "ratio": ratio, "pipeline_images_per_s": pipeline}


def workers(args):
    from benchmarks.distributed import free_ports

    folder = mnist_shards(args, images_per_shard=7500)  # 8 shards: 4 a worker
    rows = []
    for count in (1, 2):
        out = os.path.join(args.work, f"workers-{count}-{time.time_ns()}")
        flags = ["train_gan.py", "--conditional", "--data-dir", folder, "--stream", "on", "--epochs", str(args.epochs),
                 "--out", out]
        if count == 1:
            outputs = [subprocess.run([sys.executable, *flags], cwd=ROOT, capture_output=True, text=True)]
        else:
            ports, procs = free_ports(count), []
            for index in range(count):
                tf_config = {"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                             "task": {"type": "worker", "index": index}}
                procs.append(subprocess.Popen([sys.executable, *flags, "--strategy", "multi-worker"], cwd=ROOT,
                                              env={**os.environ, "TF_CONFIG": json.dumps(tf_config)},
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            outputs = [subprocess.CompletedProcess(p.args, p.wait(), *p.communicate()) for p in procs]
        if any(o.returncode for o in outputs):
            raise RuntimeError("\n".join(o.stderr[-3000:] for o in outputs))
        step_ms = [float(m) for m in re.findall(r" - (\d+)ms/step", outputs[0].stdout)]
        read = [line for o in outputs for line in o.stderr.splitlines() if " reads shards " in line]
        numbers = [set(map(int, re.search(r"reads shards ([\d, ]+) \(", line).group(1).split(", "))) for line in read]
        rows.append({"workers": count, "epochs": args.epochs, "ms_per_step_each_epoch": step_ms,
                     "images_per_s_last_epoch": 128 / (step_ms[-1] / 1000), "reads": read,
                     "disjoint": count == 1 or not set.intersection(*numbers),
                     "cover": count == 1 or set.union(*numbers) == set(range(8))})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["make", "make-one", "memory", "throughput", "workers", "augment"])
    parser.add_argument("--run", help="augment: a conditional run (the default cGAN)")
    parser.add_argument("--data-dir", default=os.environ.get(data.DATA_DIR_ENV))
    parser.add_argument("--work", help="folder for the large sets and runs (tens of GB for 8 million images)")
    parser.add_argument("--sizes", type=lambda s: [int(v) for v in s.split(",")], default=[1_000_000, 8_000_000])
    parser.add_argument("--n", type=int)
    parser.add_argument("--out")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    if args.stage == "make-one":
        print(json.dumps(make_one(args.data_dir, args.n, args.out, seed=0)))
        return 0
    result = {"make": make, "memory": memory, "throughput": throughput, "workers": workers,
              "augment": augment_memory}[args.stage](args)
    files.write_json(os.path.join(RESULTS, f"{args.stage}.json"),
                     {"command": " ".join(sys.argv), "machine": "2-core CPU, 24 GB (benchmarks/README.md)",
                      "result": result})
    return 0


if __name__ == "__main__":
    cli.run(main)
