//! The Usher session server (library: `run` starts a server in-process, so
//! tests use a real one on port 0).
