"""SFT data: normalise instruction sets, filter them, and format chat-templated rows with loss masks.

Importing this package registers the stages ``sft_normalize``, ``sft_quality``,
``sft_decontaminate`` and ``sft_format``. ``format: {kind: sft}`` delegates to
:class:`curate.sft.format.SFTFormatter` as well.
"""

from curate.sft import decontam, normalize, quality, reader, stage  # noqa: F401  (registers stages + reader)
