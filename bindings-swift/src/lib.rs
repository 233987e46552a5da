//! The swift binding of Usher. Thin: argument conversion, error mapping and
//! callback bridging over `usher-core`; filled in by its own issue.
