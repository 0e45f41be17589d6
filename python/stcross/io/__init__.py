"""Files from other tools: Seurat objects (``.rds``) through rpy2.

Needs the optional extra ``pip install 'stcross[r]'`` (rpy2 >= 3.5, < 3.6) and an R with
SeuratObject. rpy2 is imported on first use, so ``import stcross.io`` costs nothing.
"""

from .seurat import read_seurat, write_seurat

__all__ = ["read_seurat", "write_seurat"]
