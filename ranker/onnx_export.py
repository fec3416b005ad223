"""Export MiniLM's first layers to ONNX in a process of its own (``ranker.encoder.onnx_graph``).

python -m ranker.onnx_export MINILM_DIR LAYERS OUT
"""

from __future__ import annotations

import sys
from pathlib import Path

from ranker.encoder import export_graph


def main(argv: list[str]) -> None:
    where, layers, out = argv
    export_graph(Path(where), int(layers), Path(out))


if __name__ == "__main__":
    main(sys.argv[1:])
