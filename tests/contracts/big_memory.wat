;; A contract for the node's large-memory figures (cluster/benches/memory.rs): a call that
;; does nothing, a grow, and a call writing one word in every 512-byte chunk of a range.
(module
  (memory 1 65536)
  (func (export "noop"))
  (func (export "grow") (param $pages i32) (result i32)
    (memory.grow (local.get $pages)))
  ;; Writes `value` at every 512th byte from `from` up to (not including) `to`.
  (func (export "touch") (param $from i32) (param $to i32) (param $value i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $from) (local.get $to)))
        (i32.store (local.get $from) (local.get $value))
        (local.set $from (i32.add (local.get $from) (i32.const 512)))
        (br $next)))))
