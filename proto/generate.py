"""Generate the Python code for every .proto under proto/estiba, or check that it is current.

    python proto/generate.py           # regenerate in place
    python proto/generate.py --check   # regenerate into a temporary dir; fail on any difference

The generated modules (``*_pb2.py``, ``*_pb2.pyi``, ``*_pb2_grpc.py``, ``*_pb2_grpc.pyi``) are
committed beside their sources so that review shows every wire change and no runtime needs protoc.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
PACKAGE = PROTO_ROOT / "estiba"
BIN = Path(sys.executable).parent
GENERATED = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def sources(root: Path) -> list[Path]:
    return sorted((root / "estiba").rglob("*.proto"))


def generate(into: Path) -> None:
    """Compile every .proto found under PROTO_ROOT into the tree rooted at ``into``."""
    protos = [str(p.relative_to(PROTO_ROOT)) for p in sources(PROTO_ROOT)]
    cmd = [
        sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_ROOT}",
        f"--python_out={into}", f"--grpc_python_out={into}",
        f"--plugin=protoc-gen-mypy={BIN / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={BIN / 'protoc-gen-mypy_grpc'}",
        f"--mypy_out={into}", f"--mypy_grpc_out={into}", *protos,
    ]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=PROTO_ROOT)
    for proto in protos:
        package_dir = into / Path(proto).parent
        for parent in [package_dir, *package_dir.relative_to(into).parents]:
            init = into / parent / "__init__.py"
            if parent != Path(".") and not init.exists():
                init.write_text("")


def generated_files(root: Path) -> set[Path]:
    return {
        p.relative_to(root)
        for p in (root / "estiba").rglob("*")
        if p.is_file() and (p.name.endswith(GENERATED) or p.name == "__init__.py")
    }


def check() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generate(out)
        want, have = generated_files(out), generated_files(PROTO_ROOT)
        stale = sorted(str(p) for p in want ^ have)
        stale += sorted(
            str(p) for p in want & have if not filecmp.cmp(out / p, PROTO_ROOT / p, False)
        )
    if stale:
        print("generated code is out of date; run: python proto/generate.py", file=sys.stderr)
        for name in stale:
            print(f"  {name}", file=sys.stderr)
        return 1
    print(f"generated code is current ({len(want)} files)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if regeneration would differ")
    args = parser.parse_args()
    if args.check:
        return check()
    for old in generated_files(PROTO_ROOT):
        if old.name != "__init__.py":
            (PROTO_ROOT / old).unlink()
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        for rel in generated_files(Path(tmp)):
            (PROTO_ROOT / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(tmp) / rel, PROTO_ROOT / rel)
    print("generated code written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
