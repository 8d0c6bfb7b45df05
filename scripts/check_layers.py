#!/usr/bin/python3
"""Check that the #include dependencies of core/ point one way (the layers of core/LAYERS.md).

Every source file, private header and public header under core/ belongs to one layer: a file
in core/<folder>/ to the layer named after its folder, a public header in core/include/jwtgate/
to the layer given for it in PUBLIC_HEADERS below. Every #include of a project header
(`#include "..."`, or `<...>` naming a file that exists in the tree) is an edge from the
including file's layer to the included file's layer. An edge is allowed when both files are in
the same layer, or when the included layer is one the including layer stands on, directly or
through others (LAYERS below). Also refused:
  - a public header that includes a private one (public headers are installed alone);
  - a file in a folder that is not a layer, a public header without a layer, an include that
    resolves to no file and names no layer;
  - an include cycle between files (a header that reaches itself through others).

Usage: check_layers.py [--root REPO]   (default: the repository holding this script)
Exit status: 0 when every edge is allowed, 1 listing each edge that is not (one per line,
"core/verify/verified_token_cache.cc includes pipeline/mpmc_ring.h: verify may not depend on
pipeline"), 2 on a usage error.
"""

import argparse
import os
import re
import sys

# Each layer and the layers it stands on directly; a layer may include its own files and those
# of every layer reachable from these. Keep in step with core/LAYERS.md.
LAYERS = {
    "base": (),
    "jose": ("base",),
    "crypto": ("jose",),
    "verify": ("crypto",),
    "revoke": ("verify",),
    "pipeline": ("verify",),
    "keys": ("verify",),
    "replicate": ("revoke",),
    "net": ("base",),
    "store": ("base",),
    "daemon": ("revoke", "pipeline", "keys", "replicate", "net", "store"),
    "cli": ("revoke", "pipeline", "keys", "net", "store"),
}

# The layer of each public header (core/include/jwtgate/): the layer that implements it.
PUBLIC_HEADERS = {
    "alg.h": "base",
    "result.h": "base",
    "status.h": "base",
    "named_enum.h": "base",
    "version.h": "base",  # generated from version.h.in
    "keys.h": "crypto",
    "signer.h": "crypto",
    "cache.h": "verify",
    "claims.h": "verify",
    "verifier.h": "verify",
    "verifier_cell.h": "verify",
    "key_source.h": "keys",
    "file_env.h": "revoke",
    "revocation.h": "revoke",
    "pipeline.h": "pipeline",
}

PUBLIC_DIR = "include/jwtgate"  # relative to core/
SOURCE_SUFFIXES = (".h", ".hh", ".hpp", ".c", ".cc", ".cpp", ".inc")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*(["<])([^">]+)[">]')


def closure(layers):
    """Layer -> set of layers it may depend on. Raises ValueError on a bad LAYERS table."""
    for name, below in layers.items():
        for b in below:
            if b not in layers:
                raise ValueError(f"LAYERS: {name} stands on unknown layer {b}")
    reach = {}

    def visit(name, path):
        if name in path:
            raise ValueError("LAYERS: cycle " + " -> ".join(path + [name]))
        if name not in reach:
            out = set()
            for b in layers[name]:
                out.add(b)
                out |= visit(b, path + [name])
            reach[name] = out
        return reach[name]

    for name in layers:
        visit(name, [])
    return reach


def list_sources(core):
    """Every source and header file under core/: {path as included: path on disk}, both
    relative to core/ and '/'-separated. A template that CMake configures (version.h.in) is
    listed under the name of the file it becomes."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(core):
        dirnames.sort()
        for f in sorted(filenames):
            name = f[:-len(".in")] if f.endswith(".in") else f
            if name.endswith(SOURCE_SUFFIXES):
                rel = os.path.relpath(os.path.join(dirpath, f), core).replace(os.sep, "/")
                out[rel[:len(rel) - len(f)] + name] = rel
    return out


def layer_of(rel, layers, public):
    """(layer, None) for a path relative to core/, or (None, reason)."""
    if rel.startswith(PUBLIC_DIR + "/"):
        name = rel[len(PUBLIC_DIR) + 1:]
        if name in public:
            return public[name], None
        return None, f"public header {name} has no layer (add it to PUBLIC_HEADERS)"
    folder = rel.split("/", 1)[0]
    if "/" in rel and folder in layers:
        return folder, None
    return None, f"folder {folder}/ is not a layer" if "/" in rel else "not in a layer folder"


def resolve(including, spelled, quoted, files, layers):
    """The path (relative to core/) an include names, or None for a header outside the project.

    Quoted includes are looked up as the compiler does: beside the including file, then in
    core/include/ and core/ (the include directories of the project); one that names no
    existing file still belongs to the layer its first folder names. Angle-bracket includes
    count only when they name a file of the tree (<net/if.h> is the system's)."""
    candidates = []
    if quoted:
        here = os.path.dirname(including)
        candidates.append(os.path.normpath(os.path.join(here, spelled)).replace(os.sep, "/"))
    candidates.append(os.path.normpath(os.path.join("include", spelled)).replace(os.sep, "/"))
    candidates.append(os.path.normpath(spelled).replace(os.sep, "/"))
    for c in candidates:
        if c in files:
            return c
    if not quoted:
        return None
    if spelled.startswith("jwtgate/"):
        return PUBLIC_DIR + "/" + spelled[len("jwtgate/"):]
    folder = spelled.split("/", 1)[0]
    if "/" in spelled and folder in layers:
        return os.path.normpath(spelled).replace(os.sep, "/")
    return ""  # a project include that cannot be placed


def read_includes(path):
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = INCLUDE_RE.match(line)
            if m:
                out.append((m.group(2), m.group(1) == '"'))
    return out


def find_cycles(graph):
    """Strongly connected components with more than one file (or a file including itself)."""
    index = {}
    low = {}
    stack = []
    on_stack = set()
    cycles = []
    counter = [0]

    def strongconnect(v):
        # Tarjan's algorithm, iterative: a long include chain never meets the recursion limit.
        work = [(v, iter(sorted(graph.get(v, ()))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, it = work[-1]
            advanced = False
            for w in it:
                if w not in graph:
                    continue
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    advanced = True
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1 or node in graph.get(node, ()):
                    cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return cycles


def cycle_path(comp, graph):
    """One closed include path through a strongly connected component, for the message."""
    members = set(comp)
    start = comp[0]
    prev = {start: None}  # breadth-first from start, inside the component
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph.get(v, ())):
                if w == start:
                    path = [v]
                    while prev[path[-1]] is not None:
                        path.append(prev[path[-1]])
                    return list(reversed(path)) + [start]
                if w in members and w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return comp + [start]


def check(root, layers=LAYERS, public=PUBLIC_HEADERS):
    """The list of problems found under root/core/ (empty when the tree follows the layers)."""
    core = os.path.join(root, "core")
    if not os.path.isdir(core):
        raise FileNotFoundError(f"{core}: no such directory")
    reach = closure(layers)
    for name, layer in public.items():
        if layer not in layers:
            raise ValueError(f"PUBLIC_HEADERS: {name} is in unknown layer {layer}")
    files = list_sources(core)
    problems = []
    graph = {}
    for rel in sorted(files):
        src_layer, why = layer_of(rel, layers, public)
        if src_layer is None:
            problems.append(f"core/{rel}: {why}")
        is_public = rel.startswith(PUBLIC_DIR + "/")
        graph[rel] = set()
        for spelled, quoted in read_includes(os.path.join(core, files[rel])):
            target = resolve(rel, spelled, quoted, files, layers)
            if target is None:
                continue
            if target == "":
                problems.append(f"core/{rel} includes {spelled}: not a file of core/ and not "
                                f"in a layer folder")
                continue
            if target in files:
                graph[rel].add(target)
            if is_public and not target.startswith(PUBLIC_DIR + "/"):
                problems.append(f"core/{rel} includes {spelled}: a public header may include "
                                f"only public headers")
                continue
            dst_layer, why = layer_of(target, layers, public)
            if dst_layer is None:
                problems.append(f"core/{rel} includes {spelled}: {why}")
                continue
            if src_layer is None or dst_layer == src_layer or dst_layer in reach[src_layer]:
                continue
            problems.append(f"core/{rel} includes {spelled}: {src_layer} may not depend on "
                            f"{dst_layer}")
    for comp in find_cycles(graph):
        path = cycle_path(comp, graph)
        problems.append("include cycle: " + " -> ".join("core/" + p for p in path))
    return problems


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), help="repository root (holding core/)")
    args = parser.parse_args(argv)
    try:
        problems = check(args.root)
    except (OSError, ValueError) as e:
        print(f"check_layers: {e}", file=sys.stderr)
        return 2
    for p in problems:
        print(p)
    if problems:
        print(f"check_layers: {len(problems)} problem{'' if len(problems) == 1 else 's'} with "
              f"the layers of core/ (core/LAYERS.md)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
