"""Integer-vector homomorphic encryption (Zhou & Wornell 2014). Research/demo grade: see docs/vhe.md. Filled in by issue 6."""
