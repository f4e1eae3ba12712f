;; A small contract for the node's tests: a counter in memory and a call count in a
;; global, both persisting across calls.
(module
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (func (export "add") (param $n i32) (result i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (local.get $n)))
    (i32.load (i32.const 0)))
  (func (export "get") (result i32)
    (i32.load (i32.const 0)))
  (func (export "calls") (result i32)
    (global.get $calls))
  ;; Writes, then traps: the write must not survive.
  (func (export "fail") (param $n i32)
    (i32.store (i32.const 0) (local.get $n))
    unreachable)
  (func (export "spin")
    (loop $l (br $l))))
