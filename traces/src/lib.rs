//! Execution traces and the bisection game (see issue "The verification game").
