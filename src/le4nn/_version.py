"""le4nn's version, in a module of its own so that any module can read it without importing the package root
(which reaches every public submodule, so importing it from inside le4nn would cross the import layers)."""

__version__ = "0.1.0"
