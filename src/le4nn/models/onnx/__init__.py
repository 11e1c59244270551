"""ONNX export (and import) of le4nn models.

``model.export(path, format="onnx")`` (:func:`le4nn.models.onnx.export.export_model`) writes a model as an
ONNX graph that ONNX Runtime runs.  ``onnx`` and ``onnxruntime`` are optional (``pip install
"le4nn[onnx]"``) and imported only by the functions that need them: importing this package imports neither.
"""
