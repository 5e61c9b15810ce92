#!/usr/bin/env python3
"""make lint-products (in make lint): every module a target of this package imports is one it declares, products
of other packages included.

  check-imports.py [--drop TARGET:PRODUCT]... [PACKAGE_DIR]

--drop checks as if TARGET did not declare PRODUCT: the control (make lint-products runs it with
EpochServer:NIOConcurrencyHelpers, which eight of EpochServer's files import, and fails unless the
check fails).

SwiftPM's --explicit-target-dependency-import-check (make lint-imports) covers the targets of this
package only: a file may import NIOConcurrencyHelpers, a product of swift-nio, without its target
declaring it, and compile for as long as another declared product happens to build that module
first. This check closes that gap. For each target of the package it takes:

- what the target may import, from SwiftPM itself: `swift package describe --type json` gives
  the target's declared target dependencies and product dependencies (and its source files);
  `swift package dump-package` of each package in the resolved graph (`swift package
  show-dependencies --format json` names their checkouts) gives the targets each product is made
  of, i.e. the modules a declared product lets you import;
- what it imports: the `import` lines of its Swift sources.

It fails with one line per import of a module of the package graph that the target does not
declare. Modules outside the graph (the toolchain's: Foundation, Glibc, Synchronization, Testing)
are not SwiftPM dependencies and are not checked.

Why reading `import` lines is enough: Swift allows an import only as a declaration at file scope,
which swift-format (make lint-swift) puts on a line of its own; every form of it (`@testable`,
`@preconcurrency`, `public`/`package`/`internal import`, `import struct M.T`, `import M.Sub`) starts
that line and names the module right after `import` and an optional declaration kind. An import
under `#if canImport(M)` or `#if TRAIT` is counted all the same: the target must declare M (with a
condition) to compile in the configuration that takes that branch. The one thing a line reader can
mistake is an `import` line inside a block comment or a multi-line string: that makes the check
fail (a line to look at), never pass wrongly. Module names are the targets' c99 names (SwiftPM
replaces every character that cannot be in an identifier with "_").

Exit 0: all declared. Exit 1: undeclared imports, one line each. Exit 2: SwiftPM could not describe
the package (resolve it first: `swift package resolve`; make lint builds it anyway). Standard library only.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

IMPORT = re.compile(
    r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*"  # attributes: @testable, @preconcurrency, @_exported, ...
    r"(?:(?:public|package|internal|fileprivate|private)\s+)?"  # access level on the import (SE-0409)
    r"import\s+(?:(?:typealias|struct|class|enum|protocol|let|var|func)\s+)?"  # import struct M.T
    r"([A-Za-z_][A-Za-z0-9_]*)")


def swiftpm(*args: str, package: Path) -> dict:
    """A `swift package` JSON answer for `package`; exit 2 with SwiftPM's own words if it fails."""
    done = subprocess.run(["swift", "package", "--package-path", str(package), *args], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"check-imports: swift package {' '.join(args)} failed in {package}: "
              f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}", file=sys.stderr)
        sys.exit(2)
    return json.loads(done.stdout[done.stdout.index("{"):])


def c99name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name if not name[:1].isdigit() else "_" + name)


def manifest(checkout: Path, cache: Path) -> dict:
    """`dump-package` of a dependency, cached by its manifests' contents (a checkout changes only
    when its version does): evaluating twenty manifests costs ~15 s, reading them back nothing."""
    digest = hashlib.sha256()
    for path in sorted(checkout.glob("Package*.swift")):
        digest.update(path.name.encode() + path.read_bytes())
    cached = cache / f"{checkout.name}-{digest.hexdigest()[:16]}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    dumped = swiftpm("dump-package", package=checkout)
    cache.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(dumped))
    return dumped


def graph_packages(node: dict) -> dict[str, Path]:
    """identity -> checkout path of every package the root depends on, directly or not."""
    found: dict[str, Path] = {}
    for dependency in node.get("dependencies", []):
        found[dependency["identity"]] = Path(dependency["path"])
        found.update(graph_packages(dependency))
    return found


def main() -> int:
    arguments = argparse.ArgumentParser(description="Every imported module of the package graph is declared.")
    arguments.add_argument("--drop", action="append", default=[], metavar="TARGET:PRODUCT",
                           help="check as if TARGET did not declare PRODUCT (the control)")
    arguments.add_argument("package", nargs="?", default=".")
    options = arguments.parse_args()
    root = Path(options.package).resolve()
    described = swiftpm("describe", "--type", "json", package=root)
    for drop in options.drop:
        target_name, _, product = drop.partition(":")
        target = next((t for t in described["targets"] if t["name"] == target_name), None)
        if target is None or product not in target.get("product_dependencies", []):
            print(f"check-imports: --drop {drop}: {target_name} declares no product {product}", file=sys.stderr)
            return 2
        target["product_dependencies"].remove(product)
    cache = root / ".build" / "check-imports"

    # Every module of the package graph, and the modules each product lets a target import.
    own_modules = {target["name"]: target["c99name"] for target in described["targets"]}
    graph_modules = set(own_modules.values())
    product_modules: dict[str, set[str]] = {}
    offered_by: dict[str, list[str]] = {}  # module -> "product P of package Q" that offer it
    for identity, checkout in sorted(graph_packages(swiftpm("show-dependencies", "--format", "json",
                                                            package=root)).items()):
        dumped = manifest(checkout, cache)
        graph_modules |= {c99name(target["name"]) for target in dumped["targets"]}
        for product in dumped["products"]:
            modules = {c99name(name) for name in product["targets"]}
            product_modules.setdefault(product["name"], set()).update(modules)
            for module in modules:
                offered_by.setdefault(module, []).append(f'.product(name: "{product["name"]}", package: "{identity}")')

    problems, files, checked = [], 0, 0
    for target in described["targets"]:
        may_import = {target["c99name"]}
        may_import |= {own_modules[name] for name in target.get("target_dependencies", [])}
        for product in target.get("product_dependencies", []):
            may_import |= product_modules.get(product, set())
        for source in target.get("sources", []):
            if not source.endswith(".swift"):
                continue
            path = root / target["path"] / source
            files += 1
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                match = IMPORT.match(line)
                if not match or match.group(1) not in graph_modules:
                    continue
                checked += 1
                module = match.group(1)
                if module in may_import:
                    continue
                if module in own_modules.values():
                    fix = f'add "{next(n for n, c in own_modules.items() if c == module)}" to its dependencies'
                else:
                    fix = "declare " + (" or ".join(offered_by.get(module, [])) or "the product that offers it")
                problems.append(f"{path.relative_to(root)}:{number}: target {target['name']} imports {module} "
                                f"without declaring it: {fix}")
    for problem in problems:
        print(problem, file=sys.stderr, flush=True)
    print(f"check-imports: {len(described['targets'])} targets, {files} Swift files, {checked} imports of "
          f"package-graph modules: {len(problems)} undeclared")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
