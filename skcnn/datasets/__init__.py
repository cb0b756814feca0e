"""Small real datasets shipped with skcnn."""

from ._mnist import load_mnist

__all__ = ["load_mnist"]
