;; Contract storage through the verigame host functions: writes, overwrites, reads
;; (present, absent, truncated), deletions that make subtrees collapse, traps, and the
;; caller (a reserved key the program reads through `caller`, never directly).
(module
  (import "verigame" "storage_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "verigame" "storage_write" (func $write (param i32 i32 i32 i32)))
  (import "verigame" "storage_delete" (func $delete (param i32 i32) (result i32)))
  (import "verigame" "caller" (func $caller (param i32) (result i32)))
  (memory (export "memory") 1)
  (table 1 funcref)
  (elem (i32.const 0) $delete)
  (type $delete_type (func (param i32 i32) (result i32)))
  ;; Key i: 4 bytes "k" + the byte i + 2 more, at 0; values at 1024 (the value of key i is
  ;; i repeated `len` times).
  (func $key (param $i i32)
    (i32.store (i32.const 0) (i32.or (i32.const 0x0000006b) (i32.shl (local.get $i) (i32.const 8)))))
  (func $value (param $i i32) (param $len i32)
    (memory.fill (i32.const 1024) (local.get $i) (local.get $len)))
  ;; Writes keys 0..n with values of length 1 + i % 40, then overwrites the even ones.
  (func (export "fill") (param $n i32)
    (local $i i32)
    (loop $l
      (call $key (local.get $i))
      (call $value (local.get $i) (i32.add (i32.const 1) (i32.rem_u (local.get $i) (i32.const 40))))
      (call $write (i32.const 0) (i32.const 4) (i32.const 1024) (i32.add (i32.const 1) (i32.rem_u (local.get $i) (i32.const 40))))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (local.set $i (i32.const 0))
    (loop $l
      (call $key (local.get $i))
      (call $value (i32.add (local.get $i) (i32.const 100)) (i32.const 7))
      (call $write (i32.const 0) (i32.const 4) (i32.const 1024) (i32.const 7))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 2))) (local.get $n)))))
  ;; Reads key i into 2048 with room for `cap` bytes; returns the length (-1 if absent).
  (func (export "get") (param $i i32) (param $cap i32) (result i32)
    (call $key (local.get $i))
    (call $read (i32.const 0) (i32.const 4) (i32.const 2048) (local.get $cap)))
  ;; Deletes keys i, i+step, ... below n; returns how many were present.
  (func (export "remove") (param $i i32) (param $step i32) (param $n i32) (result i32)
    (local $found i32)
    (loop $l
      (call $key (local.get $i))
      (local.set $found (i32.add (local.get $found) (call $delete (i32.const 0) (i32.const 4))))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (local.get $step))) (local.get $n))))
    (local.get $found))
  (func (export "long_key") (result i32)
    (call $read (i32.const 0) (i32.const 65) (i32.const 2048) (i32.const 8)))
  (func (export "long_value")
    (call $write (i32.const 0) (i32.const 4) (i32.const 1024) (i32.const 257)))
  (func (export "out_of_bounds") (result i32)
    (call $read (i32.const 65534) (i32.const 4) (i32.const 2048) (i32.const 8)))
  (func (export "indirect") (result i32)
    (call_indirect (type $delete_type) (i32.const 0) (i32.const 4) (i32.const 0)))  ;; Copies the caller to `at`: its length, or -1 without one.
  (func (export "who") (param $at i32) (result i32)
    (call $caller (local.get $at)))
  ;; Tries to write a reserved key's 65 bytes: a storage limit trap.
  (func (export "write_reserved")
    (call $write (i32.const 0) (i32.const 65) (i32.const 1024) (i32.const 32)))
)
