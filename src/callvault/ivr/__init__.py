"""IVR: declarative flows per institution, their validator and versions, and the interpreter that runs them."""
