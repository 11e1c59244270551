"""What the ONNX export and import share: the optional dependency and its one clear error.

``onnx`` (and ``onnxruntime``, for checking an export) are optional extras (``pip install
"le4nn[onnx]"``): they are imported only inside the functions that need them, so ``import le4nn`` and
``import le4nn.models`` never import them.
"""

from __future__ import annotations

#: What to install when the ONNX extras are missing.
INSTALL_HINT = 'pip install "le4nn[onnx]"'


class OnnxNotInstalledError(ImportError):
    """An ONNX feature was used without the optional ``onnx`` / ``onnxruntime`` packages."""


def import_onnx():
    """The ``onnx`` module, or an :class:`OnnxNotInstalledError` saying how to install it."""
    try:
        import onnx
    except ImportError as exc:
        raise OnnxNotInstalledError(f"reading or writing ONNX models needs the onnx package ({exc}); "
                                    f"install it with: {INSTALL_HINT}") from None
    return onnx
