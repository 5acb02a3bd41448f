"""The package's layers, read from its source: which augment_tf module imports which (function-level imports too)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "augment_tf"


def module_name(path):
    """augment_tf/models/gan.py -> augment_tf.models.gan; a package's __init__.py is the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree, name, is_package, modules):
    """The augment_tf modules a module's code imports anywhere in it (in functions too), by their full names."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package
                package = name.split(".")[: len(name.split(".")) - node.level + is_package]
                base = ".".join(package + ([base] if base else []))
            submodules = {f"{base}.{alias.name}" for alias in node.names} & set(modules)
            found.update(submodules)  # `from augment_tf import data` imports augment_tf.data
            if len(submodules) < len(node.names):  # and names defined in `base` itself
                found.add(base)
    return {module for module in found if module in modules}


def import_graph():
    """{module: the augment_tf modules it imports}, for every module of the package."""
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: imported(ast.parse(path.read_text()), name, path.name == "__init__.py", paths) - {name}
            for name, path in paths.items()}


def cycles(graph):
    """The import cycles a depth-first walk of `graph` meets, each as the modules around it from the first by name:
    at least one wherever there is a cycle, none where there is none."""
    found, done, stack = [], set(), []

    def visit(module):
        stack.append(module)
        for other in sorted(graph[module]):
            if other in stack:
                cycle = stack[stack.index(other):]
                start = cycle.index(min(cycle))
                found.append(cycle[start:] + cycle[:start])
            elif other not in done:
                visit(other)
        stack.pop()
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module)
    return sorted(map(list, {tuple(cycle) for cycle in found}))


def test_the_graph_sees_every_kind_of_import():
    graph = import_graph()
    assert "augment_tf.errors" in graph["augment_tf.data"]  # from augment_tf.errors import DataError
    assert "augment_tf.files" in graph["augment_tf.runs"]  # from augment_tf import files
    assert "augment_tf.models" in graph["augment_tf.runs"]  # from augment_tf import models, inside a function
    assert "augment_tf.models.gan" in graph["augment_tf.models"]  # from augment_tf.models.gan import GAN


def test_cycles_are_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_the_package():
    """A module imports only those below it, so each can be read, tested and changed from the bottom up."""
    assert cycles(import_graph()) == []


def command_modules():
    """The modules `augment-tf` dispatches to (cli.COMMANDS): each parses, calls the library and writes."""
    from augment_tf import cli

    return {module for module, _ in cli.COMMANDS.values()}


def test_no_module_imports_a_command():
    """What a command does that others need lives in the library, so a command can change without breaking them."""
    commands, graph = command_modules(), import_graph()
    assert {module: sorted(graph[module] & commands) for module in graph
            if module != "augment_tf.cli" and graph[module] & commands} == {}


def test_models_know_no_files_commands_or_data():
    """The models are plain Keras: they import nothing of the package outside augment_tf.models."""
    graph = import_graph()
    outside = {module: sorted(other for other in graph[module] if not other.startswith("augment_tf.models"))
               for module in graph if module.startswith("augment_tf.models")}
    assert {module: others for module, others in outside.items() if others} == {}


def test_data_knows_no_models_runs_or_outputs():
    """The data layer (readers, shards, sources) reads images and labels; it imports no model, run or output."""
    data_layer = {"augment_tf.arrays", "augment_tf.data", "augment_tf.shard_format", "augment_tf.sources"}
    allowed = data_layer | {"augment_tf.errors", "augment_tf.files"}
    graph = import_graph()
    assert {module: sorted(graph[module] - allowed) for module in data_layer if graph[module] - allowed} == {}
