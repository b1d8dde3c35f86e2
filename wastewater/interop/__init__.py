"""Interoperability: EUDA/SCORE files (:mod:`.euda`), their database store (:mod:`.store`) and
PHES-ODM v2 export/import (:mod:`.odm`). See docs/interop.md.
"""
