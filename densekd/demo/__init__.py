"""The embedded demo: every wing's teacher, student alone and distilled student on data densekd generates
(``make demo``, ``python tools/demo.py``). Not imported by ``import densekd``."""
