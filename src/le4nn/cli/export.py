"""``le4nn-export MODEL.npz OUT.onnx [--opset N] [--class-names A,B,...]``: a saved model as an ONNX file.

The model file (``model.save``, ``le4nn-train``) is loaded with :func:`le4nn.models.load_model` (which
checks everything in it) and written with ``model.export(OUT, format="onnx")``
(:mod:`le4nn.models.onnx.export`): inference mode, a dynamic batch dimension, the inputs and outputs named
after the model's layers, ``le4nn_version`` (and ``class_names`` when given) in the metadata; the file is
written atomically.  Serve it with ONNX Runtime::

    import onnxruntime as ort
    session = ort.InferenceSession("model.onnx")
    probabilities = session.run(None, {session.get_inputs()[0].name: images})[0]   # images: float32 NHWC

Every bad argument, unreadable model or layer without an ONNX form is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from le4nn.cli.common import ArgumentParser, CLIError, int_range, output_file, run
from le4nn.models.onnx.common import MIN_OPSET


def class_name_list(text: str) -> list[str]:
    """An option type: comma-separated class names, none of them empty."""
    names = [name.strip() for name in text.split(",")]
    if not text.strip() or any(not name for name in names):
        raise argparse.ArgumentTypeError(f"expected comma-separated names without empty ones, got {text!r}")
    return names


def parse_args(argv=None) -> argparse.Namespace:
    parser = ArgumentParser(prog="le4nn-export", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a model file saved by le4nn-train or model.save (model.npz)")
    parser.add_argument("output", type=output_file, help="the ONNX file to write (e.g. model.onnx)")
    parser.add_argument("--opset", type=int_range(MIN_OPSET), metavar="N",
                        help=f"ONNX opset (>= {MIN_OPSET}; default: the highest the installed onnx knows and "
                        "ONNX Runtime runs)")
    parser.add_argument("--class-names", type=class_name_list, metavar="A,B,...",
                        help="class names to store in the file's metadata, one per model output")
    args = parser.parse_args(argv)
    if Path(args.model).exists() and args.output.exists() and os.path.samefile(args.model, args.output):
        parser.error(f"OUTPUT {str(args.output)!r} is the model file itself; give another name")
    return args


def main(argv=None) -> int:
    from le4nn.models import load_model
    from le4nn.models.onnx.common import OnnxNotInstalledError
    from le4nn.models.onnx.export import OnnxExportError, export_model

    args = parse_args(argv)
    model = load_model(args.model, compile=False)
    try:
        path = export_model(model, args.output, opset=args.opset, class_names=args.class_names)
    except (OnnxExportError, OnnxNotInstalledError) as exc:
        raise CLIError(f"{args.model}: {exc}") from None
    print(f"wrote {path} (model {model.name!r}, {model.count_params()} weights)", file=sys.stderr)
    return 0


def entry_point() -> None:
    raise SystemExit(run(main, "le4nn-export"))


if __name__ == "__main__":
    entry_point()
