"""Every command answers --help and the argument and path errors that need no model without importing TensorFlow (so
in well under a second, benchmarks/cli_latency.py): each reads and checks its line first, and TensorFlow loads with
the first model it needs (`runs.load_model`) or the training library."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]

# (command line, exit status, a piece of what it says): every one answered before TensorFlow is imported
CASES = [
    (["train-gan", "--help"], 0, "--freeze-d"),
    (["train-vae", "--help"], 0, "--kl-anneal-epochs"),
    (["train-vae", "--epochs", "0"], 2, "error: --epochs must be a positive integer, got 0"),
    (["train-gan", "--steps", "5", "--epochs", "2"], 2, "argument --epochs: not allowed with argument --steps"),
    (["train-gan", "--resume", "--out", "{tmp}/missing"], 2, "missing: no such run directory"),
    (["train-vae", "--out", "{tmp}/a_file"], 2, "a_file is a file, and a run directory is a folder"),
    (["train-gan", "--data-dir", "{tmp}/missing", "--out", "{tmp}/run"], 2, "missing: no such file or folder"),
    (["--help"], 0, "pictures"),
    (["generate", "--help"], 0, "--images-per-shard"),
    (["generate", "{tmp}/missing", "--n", "5", "--out", "{tmp}/s.npz"], 2, "missing: no such run directory"),
    (["generate", "{tmp}/missing", "--n", "0", "--out", "{tmp}/s.npz"], 2, "--n must be a positive integer"),
    (["evaluate", "--help"], 0, "--cas"),
    (["evaluate", "{tmp}/missing.npz"], 2, "missing.npz"),
    (["augment", "--help"], 0, "--synthetic-per-class"),
    (["augment", "{tmp}/missing", "--out", "{tmp}/a.npz"], 2, "give exactly one of --synthetic-per-class"),
    (["augment", "{tmp}/missing", "--ratio", "1", "--out", "{tmp}/a.npz"], 2, "missing: no such run directory"),
    (["impute", "--help"], 0, "--iterations"),
    (["impute", "{tmp}/missing", "--in", "{tmp}/m.npz", "--out", "{tmp}/r.npz"], 2, "missing: no such run directory"),
    (["denoise", "--help"], 0, "--noise-std"),
    (["denoise", "{tmp}/missing", "--in", "{tmp}/n.npz", "--out", "{tmp}/c.npz", "--noise-std", "2"], 2,
     "--noise-std is a standard deviation"),
    (["encode", "--help"], 0, "--map"),
    (["encode", "{tmp}/missing", "--in", "{tmp}/d.npz", "--out", "{tmp}/c.npz"], 2, "missing: no such run directory"),
    (["condense", "--help"], 0, "--per-class"),
    (["condense", "{tmp}/missing", "--per-class", "10", "--out", "{tmp}/s.npz"], 2, "missing: no such run directory"),
    (["shard", "--help"], 0, "--images-per-shard"),
    (["shard", "{tmp}/missing", "--out", "{tmp}/shards"], 2, "missing"),
    (["pictures", "--help"], 0, "--scale"),
    (["pictures", "{tmp}/missing", "--out", "{tmp}/p"], 2, "missing: no such run directory"),
]

# runs each case through the CLI in one process, then reports what each said and which modules were loaded
SCRIPT = """
import contextlib, io, json, sys
from augment_tf import cli

said = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as e:
            code = e.code
    said.append([code, out.getvalue() + err.getvalue()])
print(json.dumps({"said": said, "loaded": sorted(m for m in ("tensorflow", "keras") if m in sys.modules)}))
"""


def test_commands_answer_help_and_argument_errors_without_tensorflow(tmp_path):
    (tmp_path / "a_file").write_text("not a run")
    argvs = [[arg.replace("{tmp}", str(tmp_path)) for arg in argv] for argv, _, _ in CASES]
    env = {k: v for k, v in os.environ.items() if k != "AUGMENT_TF_DATA_DIR"}
    result = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(argvs)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    for (argv, code, message), (said_code, said) in zip(CASES, report["said"]):
        assert said_code == code and message in said, (argv, said_code, said)
    assert report["loaded"] == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a_file"]  # nothing written, nothing claimed
