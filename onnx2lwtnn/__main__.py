"""``python -m onnx2lwtnn``: the same as the ``onnx2lwtnn`` command."""
import sys

from .cli import main

sys.exit(main())
