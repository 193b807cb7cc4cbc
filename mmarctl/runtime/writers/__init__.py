"""Clara writers (validation ``writers``): save per-case results under the eval folder.

A writer is called as ``writer.write(sample, out_dir=None)`` and returns the path written;
``out_dir`` overrides the writer's ``write_path``. No TensorFlow here.
"""

#: Clara name -> "module:Class" (module relative to this package).
NAMES: dict[str, str] = {
    "WriteNifti": "nifti:WriteNifti",
    "WriteClassificationResult": "classification:WriteClassificationResult",
    "WritePng": "png:WritePng",
}
