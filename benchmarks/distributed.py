"""Training throughput (images/s) of the default ConditionalGAN and ConditionalVAE on one device, on 2 mirrored
replicas and on 2 local workers (same global batch), and in float32 against mixed_bfloat16 and mixed_float16;
parameters (what every step all-reduces) and measured time per step, for the scaling estimate in benchmarks/README.md.

    python benchmarks/distributed.py --data-dir ../shared/data/mnist [--steps 200] [--repeats 3]

Every measurement runs in fresh processes (the CPU split into replicas before TensorFlow starts; two workers with
TF_CONFIG on localhost ports), one after the other; the first 20 steps (tracing) are not timed. Needs the CPU to
itself. Writes OUT.json and OUT.md.
"""

import argparse
import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from augment_tf import builders, cli, data, files  # noqa: E402
from augment_tf.errors import AugmentError  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLACEMENTS = {"one device": ("default", 1), "mirrored, 2 replicas": ("mirrored", 2), "2 workers": ("multi-worker", 2)}
BATCH_SIZE = 128


def measure(kind, strategy_name, replicas, precision, steps, data_dir):
    """In this process: images/s, ms per step and trainable parameters of `kind` trained `steps` steps."""
    import keras

    from augment_tf import distribute
    from benchmarks.throughput import DEFAULTS, timed_epoch

    strategy = distribute.make_strategy(strategy_name, replicas if strategy_name == "mirrored" else None)
    distribute.set_precision(precision)
    keras.utils.set_random_seed(0)
    with strategy.scope():
        if kind == "gan":
            model = builders.build_gan({**DEFAULTS, "jit_compile": "off"})
        else:
            model = builders.build_vae({**DEFAULTS, "latent_dim": 16, "jit_compile": "off", "beta": 1.0,
                                           "kl_anneal_epochs": 0.0, "learning_rate": 1e-3})
    rate = timed_epoch(model, BATCH_SIZE, model.value_range, steps, data_dir)()
    parameters = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    return {"images_per_s": rate, "ms_per_step": 1000 * BATCH_SIZE / rate, "parameters": parameters}


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run_fresh(kind, placement, precision, args):
    """`measure` in new processes (two workers for multi-worker); the chief's figures."""
    strategy_name, replicas = PLACEMENTS[placement]
    command = [sys.executable, os.path.abspath(__file__), "--measure", kind, strategy_name, str(replicas), precision,
               "--steps", str(args.steps), "--data-dir", args.data_dir]
    envs = [dict(os.environ)]
    if strategy_name == "multi-worker":
        ports = free_ports(replicas)
        envs = [{**os.environ, "TF_CONFIG": json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                                                         "task": {"type": "worker", "index": i}})}
                for i in range(replicas)]
    processes = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for env in envs]
    outputs = [p.communicate() for p in processes]
    if any(p.returncode for p in processes):
        errors = [line for _, err in outputs for line in err.splitlines() if line.startswith("error: ")]
        if errors:  # the child's one-line user error (a wrong --data-dir): passed on as it is
            raise AugmentError(errors[0].removeprefix("error: "))
        raise SystemExit(f"{kind} {placement} {precision} failed:\n{outputs[0][1][-3000:]}")  # a crash: its traceback
    return json.loads(outputs[0][0].strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get(data.DATA_DIR_ENV))
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=1, help="fresh measurements of each setting (median reported)")
    parser.add_argument("--measure", nargs=4, metavar=("KIND", "STRATEGY", "REPLICAS", "PRECISION"), help=argparse.SUPPRESS)
    parser.add_argument("--out", default="benchmarks/results/distributed")
    args = parser.parse_args(argv)
    if args.measure:  # one measurement, in this fresh process
        kind, strategy_name, replicas, precision = args.measure
        print(json.dumps(measure(kind, strategy_name, int(replicas), precision, args.steps, args.data_dir)))
        return
    settings = [(kind, placement, "float32") for kind in ("gan", "vae") for placement in PLACEMENTS]
    settings += [(kind, "one device", precision) for kind in ("gan", "vae") for precision in ("mixed_bfloat16",
                                                                                              "mixed_float16")]
    rows = []
    for kind, placement, precision in settings:
        results = [run_fresh(kind, placement, precision, args) for _ in range(args.repeats)]
        rates = [r["images_per_s"] for r in results]
        rows.append({"model": kind, "placement": placement, "precision": precision, "batch": BATCH_SIZE,
                     "images_per_s": float(np.median(rates)), "each_run": rates,
                     "ms_per_step": float(np.median([r["ms_per_step"] for r in results])),
                     "parameters": results[0]["parameters"]})
        print(json.dumps(rows[-1]), flush=True)
    files.write_json(f"{args.out}.json", {"rows": rows, "command": " ".join(sys.argv), "steps": args.steps})
    lines = ["| model | placement | precision | images/s (median) | each run | ms/step | trainable parameters |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['placement']} | {r['precision']} | {r['images_per_s']:.0f} | "
              f"{', '.join(f'{v:.0f}' for v in r['each_run'])} | {r['ms_per_step']:.1f} | {r['parameters']:,} |"
              for r in rows]
    footer = f"\n\nGlobal batch {BATCH_SIZE}, {args.steps} timed steps per run.\n"
    files.write_text(f"{args.out}.md", "\n".join(lines) + footer)
    print("\n".join(lines))


if __name__ == "__main__":
    cli.run(main)
