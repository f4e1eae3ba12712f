//! Terminal UI (see issue "The terminal UI").
