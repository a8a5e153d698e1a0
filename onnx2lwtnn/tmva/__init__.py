"""TMVA without ROOT: MLP weights files to lwtnn, and their input transformations folded
into other conversions.

``method`` reads a weights file (safely, ``xmlsafe``), ``transforms`` its
``<Transformations>``, ``mlp`` its network; ``response`` computes what TMVA's Reader
returns; ``convert`` writes the lwtnn document; ``check`` proves it; ``fold`` applies a
file's transformations to an ONNX conversion.
"""
from .check import TmvaCheck, check_tmva
from .convert import TmvaNetwork, convert_tmva, read_network

__all__ = ["TmvaCheck", "TmvaNetwork", "check_tmva", "convert_tmva", "read_network"]
