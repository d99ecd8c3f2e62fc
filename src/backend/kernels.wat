;; WebAssembly SIMD kernels for training on tfjs-backend-wasm. They run inside the backend's own
;; heap: the module imports the backend's memory, so tensors are read and written in place, by
;; their byte offsets, with no copies. simd.ts instantiates this module once per backend and
;; registers each export as a tfjs kernel; kernels.ts and batchnorm.ts use them. kernels.wasm.ts
;; holds this file assembled (scripts/build-wasm.ts's `assemble`, wabt with SIMD);
;; test/train-kernels.test.ts checks that they agree, and
;; `ICHDET_WRITE_WASM=1 npx vitest run test/train-kernels.test.ts` rewrites it after an edit.
;;
;; Conventions: every pointer is a byte offset into the imported memory; tensors are float32,
;; row-major, NHWC. A "row" is the innermost axis (c channels). Sums run in float32 over blocks
;; of at most 256 rows (or one image) and in float64 across blocks, so they do not drift with
;; the number of rows; `acc` (float32) and `tot` (float64, 8-byte aligned) are scratch buffers
;; the caller provides, of the sizes given per kernel. Channel loops take four lanes at a time
;; and finish the c mod 4 remainder one lane at a time. No kernel writes outside its output and
;; scratch; every output element is written (outputs come from malloc, not zeroed).
(module
  (import "env" "memory" (memory 0))

  ;; ---------------------------------------------------------------------------------- helpers

  (func $zero32 (param $p i32) (param $n i32)
    (memory.fill (local.get $p) (i32.const 0) (i32.shl (local.get $n) (i32.const 2))))

  (func $zero64 (param $p i32) (param $n i32)
    (memory.fill (local.get $p) (i32.const 0) (i32.shl (local.get $n) (i32.const 3))))

  ;; tot[j] += acc[j] in float64, then acc[j] = 0, for j < n.
  (func $flush (param $acc i32) (param $tot i32) (param $n i32)
    (local $j i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
      (f64.store (local.get $tot)
        (f64.add (f64.load (local.get $tot)) (f64.promote_f32 (f32.load (local.get $acc)))))
      (f32.store (local.get $acc) (f32.const 0))
      (local.set $acc (i32.add (local.get $acc) (i32.const 4)))
      (local.set $tot (i32.add (local.get $tot) (i32.const 8)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $next))))

  ;; The end of the block of rows that starts at row i: min(i + 256, m).
  (func $blockEnd (param $i i32) (param $m i32) (result i32)
    (local $e i32)
    (local.set $e (i32.add (local.get $i) (i32.const 256)))
    (select (local.get $m) (local.get $e) (i32.gt_u (local.get $e) (local.get $m))))

  ;; ------------------------------------------------------------------------------ column sums

  ;; $sumCols(x, m, c, acc, tot): tot[j] = Σ_i x[i, j] over an m × c matrix (float64).
  ;; acc: c floats; tot: c doubles.
  (func $sumCols (param $x i32) (param $m i32) (param $c i32) (param $acc i32) (param $tot i32)
    (local $i i32) (local $end i32) (local $c4 i32) (local $j i32) (local $a i32)
    (local.set $c4 (i32.and (local.get $c) (i32.const -4)))
    (call $zero32 (local.get $acc) (local.get $c))
    (call $zero64 (local.get $tot) (local.get $c))
    (block $rowsDone (loop $blocks
      (br_if $rowsDone (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $end (call $blockEnd (local.get $i) (local.get $m)))
      (block $blockDone (loop $rows
        (br_if $blockDone (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $a (local.get $acc))
        (local.set $j (i32.const 0))
        (block $vd (loop $vl
          (br_if $vd (i32.ge_u (local.get $j) (local.get $c4)))
          (v128.store (local.get $a) (f32x4.add (v128.load (local.get $a)) (v128.load (local.get $x))))
          (local.set $x (i32.add (local.get $x) (i32.const 16)))
          (local.set $a (i32.add (local.get $a) (i32.const 16)))
          (local.set $j (i32.add (local.get $j) (i32.const 4)))
          (br $vl)))
        (block $sd (loop $sl
          (br_if $sd (i32.ge_u (local.get $j) (local.get $c)))
          (f32.store (local.get $a) (f32.add (f32.load (local.get $a)) (f32.load (local.get $x))))
          (local.set $x (i32.add (local.get $x) (i32.const 4)))
          (local.set $a (i32.add (local.get $a) (i32.const 4)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $sl)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows)))
      (call $flush (local.get $acc) (local.get $tot) (local.get $c))
      (br $blocks))))

  ;; $sumSqDev(x, mean, m, c, acc, tot): tot[j] = Σ_i (x[i, j] − mean[j])² (float64).
  ;; acc: c floats; tot: c doubles.
  (func $sumSqDev
    (param $x i32) (param $mean i32) (param $m i32) (param $c i32) (param $acc i32) (param $tot i32)
    (local $i i32) (local $end i32) (local $c4 i32) (local $j i32) (local $a i32) (local $mu i32)
    (local $v v128) (local $s f32)
    (local.set $c4 (i32.and (local.get $c) (i32.const -4)))
    (call $zero32 (local.get $acc) (local.get $c))
    (call $zero64 (local.get $tot) (local.get $c))
    (block $rowsDone (loop $blocks
      (br_if $rowsDone (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $end (call $blockEnd (local.get $i) (local.get $m)))
      (block $blockDone (loop $rows
        (br_if $blockDone (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $a (local.get $acc))
        (local.set $mu (local.get $mean))
        (local.set $j (i32.const 0))
        (block $vd (loop $vl
          (br_if $vd (i32.ge_u (local.get $j) (local.get $c4)))
          (local.set $v (f32x4.sub (v128.load (local.get $x)) (v128.load (local.get $mu))))
          (v128.store (local.get $a)
            (f32x4.add (v128.load (local.get $a)) (f32x4.mul (local.get $v) (local.get $v))))
          (local.set $x (i32.add (local.get $x) (i32.const 16)))
          (local.set $a (i32.add (local.get $a) (i32.const 16)))
          (local.set $mu (i32.add (local.get $mu) (i32.const 16)))
          (local.set $j (i32.add (local.get $j) (i32.const 4)))
          (br $vl)))
        (block $sd (loop $sl
          (br_if $sd (i32.ge_u (local.get $j) (local.get $c)))
          (local.set $s (f32.sub (f32.load (local.get $x)) (f32.load (local.get $mu))))
          (f32.store (local.get $a)
            (f32.add (f32.load (local.get $a)) (f32.mul (local.get $s) (local.get $s))))
          (local.set $x (i32.add (local.get $x) (i32.const 4)))
          (local.set $a (i32.add (local.get $a) (i32.const 4)))
          (local.set $mu (i32.add (local.get $mu) (i32.const 4)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $sl)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows)))
      (call $flush (local.get $acc) (local.get $tot) (local.get $c))
      (br $blocks))))

  ;; $sumDotDev(p, q, mean, m, c, acc, tot): tot[j] = Σ_i p[i, j] and
  ;; tot[c + j] = Σ_i p[i, j]·(q[i, j] − mean[j]) (float64). acc: 2c floats; tot: 2c doubles.
  (func $sumDotDev
    (param $p i32) (param $q i32) (param $mean i32) (param $m i32) (param $c i32) (param $acc i32)
    (param $tot i32)
    (local $i i32) (local $end i32) (local $c4 i32) (local $j i32) (local $a i32) (local $mu i32)
    (local $cb i32) (local $v v128) (local $s f32)
    (local.set $c4 (i32.and (local.get $c) (i32.const -4)))
    (local.set $cb (i32.shl (local.get $c) (i32.const 2)))
    (call $zero32 (local.get $acc) (i32.shl (local.get $c) (i32.const 1)))
    (call $zero64 (local.get $tot) (i32.shl (local.get $c) (i32.const 1)))
    (block $rowsDone (loop $blocks
      (br_if $rowsDone (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $end (call $blockEnd (local.get $i) (local.get $m)))
      (block $blockDone (loop $rows
        (br_if $blockDone (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $a (local.get $acc))
        (local.set $mu (local.get $mean))
        (local.set $j (i32.const 0))
        (block $vd (loop $vl
          (br_if $vd (i32.ge_u (local.get $j) (local.get $c4)))
          (local.set $v (v128.load (local.get $p)))
          (v128.store (local.get $a) (f32x4.add (v128.load (local.get $a)) (local.get $v)))
          (v128.store (i32.add (local.get $a) (local.get $cb))
            (f32x4.add
              (v128.load (i32.add (local.get $a) (local.get $cb)))
              (f32x4.mul (local.get $v)
                (f32x4.sub (v128.load (local.get $q)) (v128.load (local.get $mu))))))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (local.set $q (i32.add (local.get $q) (i32.const 16)))
          (local.set $a (i32.add (local.get $a) (i32.const 16)))
          (local.set $mu (i32.add (local.get $mu) (i32.const 16)))
          (local.set $j (i32.add (local.get $j) (i32.const 4)))
          (br $vl)))
        (block $sd (loop $sl
          (br_if $sd (i32.ge_u (local.get $j) (local.get $c)))
          (local.set $s (f32.load (local.get $p)))
          (f32.store (local.get $a) (f32.add (f32.load (local.get $a)) (local.get $s)))
          (f32.store (i32.add (local.get $a) (local.get $cb))
            (f32.add
              (f32.load (i32.add (local.get $a) (local.get $cb)))
              (f32.mul (local.get $s) (f32.sub (f32.load (local.get $q)) (f32.load (local.get $mu))))))
          (local.set $p (i32.add (local.get $p) (i32.const 4)))
          (local.set $q (i32.add (local.get $q) (i32.const 4)))
          (local.set $a (i32.add (local.get $a) (i32.const 4)))
          (local.set $mu (i32.add (local.get $mu) (i32.const 4)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $sl)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows)))
      (call $flush (local.get $acc) (local.get $tot) (i32.shl (local.get $c) (i32.const 1)))
      (br $blocks))))

  ;; colSum(x, m, c, acc, tot, out): out[j] = Σ_i x[i, j]. acc: c floats; tot: c doubles.
  (func (export "colSum")
    (param $x i32) (param $m i32) (param $c i32) (param $acc i32) (param $tot i32) (param $out i32)
    (local $j i32)
    (call $sumCols (local.get $x) (local.get $m) (local.get $c) (local.get $acc) (local.get $tot))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $j) (local.get $c)))
      (f32.store (local.get $out) (f32.demote_f64 (f64.load (local.get $tot))))
      (local.set $out (i32.add (local.get $out) (i32.const 4)))
      (local.set $tot (i32.add (local.get $tot) (i32.const 8)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $next))))

  ;; -------------------------------------------------------------------- batch normalization
  ;; Training-mode batch norm over the m rows of an m × c matrix, per channel j:
  ;;   μ = Σ x / m,  σ² = Σ (x − μ)² / m  (biased),  r = 1 / √(σ² + ε),  x̂ = (x − μ)·r,
  ;;   y = γ·x̂ + β.
  ;; Its gradient, with the batch statistics differentiated too (as autodiff of moments and
  ;; batchNorm gives it), where S₁ = Σ dy and S₂ = Σ dy·(x − μ):
  ;;   dβ = S₁,  dγ = r·S₂,  dx = γr·(dy − S₁/m − (x − μ)·r²·S₂/m).
  ;; γ = 1 when gamma is 0 (no scale), β = 0 when beta is 0 (no centre).

  ;; bnForward(x, gamma, beta, m, c, eps, acc, tot, y, stats): y as above; stats[j] = μ,
  ;; stats[c + j] = σ². acc: 2c floats; tot: c doubles.
  (func (export "bnForward")
    (param $x i32) (param $gamma i32) (param $beta i32) (param $m i32) (param $c i32)
    (param $eps f64) (param $acc i32) (param $tot i32) (param $y i32) (param $stats i32)
    (local $j i32) (local $o i32) (local $t i32) (local $var f64) (local $g f64) (local $b f32)
    (call $sumCols (local.get $x) (local.get $m) (local.get $c) (local.get $acc) (local.get $tot))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $j) (local.get $c)))
      (f32.store (i32.add (local.get $stats) (i32.shl (local.get $j) (i32.const 2)))
        (f32.demote_f64
          (f64.div (f64.load (i32.add (local.get $tot) (i32.shl (local.get $j) (i32.const 3))))
            (f64.convert_i32_u (local.get $m)))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $next)))
    (call $sumSqDev (local.get $x) (local.get $stats) (local.get $m) (local.get $c)
      (local.get $acc) (local.get $tot))
    ;; σ² into stats[c..2c); the scale a = γ·r into acc[0..c), the shift β into acc[c..2c).
    (local.set $j (i32.const 0))
    (block $done2 (loop $next2
      (br_if $done2 (i32.ge_u (local.get $j) (local.get $c)))
      (local.set $o (i32.shl (local.get $j) (i32.const 2)))
      (local.set $t (i32.shl (local.get $c) (i32.const 2)))
      (local.set $var
        (f64.div (f64.load (i32.add (local.get $tot) (i32.shl (local.get $j) (i32.const 3))))
          (f64.convert_i32_u (local.get $m))))
      (f32.store (i32.add (i32.add (local.get $stats) (local.get $t)) (local.get $o))
        (f32.demote_f64 (local.get $var)))
      (local.set $g (f64.const 1))
      (if (local.get $gamma)
        (then (local.set $g (f64.promote_f32 (f32.load (i32.add (local.get $gamma) (local.get $o)))))))
      (local.set $b (f32.const 0))
      (if (local.get $beta)
        (then (local.set $b (f32.load (i32.add (local.get $beta) (local.get $o))))))
      (f32.store (i32.add (local.get $acc) (local.get $o))
        (f32.demote_f64
          (f64.div (local.get $g)
            (f64.sqrt (f64.add (f64.promote_f32 (f32.demote_f64 (local.get $var))) (local.get $eps))))))
      (f32.store (i32.add (i32.add (local.get $acc) (local.get $t)) (local.get $o)) (local.get $b))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $next2)))
    (call $devAffine (local.get $x) (local.get $stats) (local.get $acc)
      (i32.add (local.get $acc) (i32.shl (local.get $c) (i32.const 2)))
      (local.get $m) (local.get $c) (local.get $y)))

  ;; bnBackward(dy, x, stats, gamma, m, c, eps, acc, tot, dx, dgb): dx as above;
  ;; dgb[j] = dγ, dgb[c + j] = dβ. stats as bnForward wrote it. acc: 3c floats; tot: 2c doubles.
  (func (export "bnBackward")
    (param $dy i32) (param $x i32) (param $stats i32) (param $gamma i32) (param $m i32) (param $c i32)
    (param $eps f64) (param $acc i32) (param $tot i32) (param $dx i32) (param $dgb i32)
    (local $j i32) (local $o i32) (local $t i32) (local $r f64) (local $g f64) (local $s1 f64)
    (local $s2 f64) (local $k f64) (local $mf f64)
    (call $sumDotDev (local.get $dy) (local.get $x) (local.get $stats) (local.get $m) (local.get $c)
      (local.get $acc) (local.get $tot))
    (local.set $mf (f64.convert_i32_u (local.get $m)))
    (local.set $t (i32.shl (local.get $c) (i32.const 2)))
    ;; Per channel: dx = a·dy + b·(x − μ) + d with a = γr, b = −γr·r²·S₂/m, d = −γr·S₁/m;
    ;; a, b, d into acc[0..c), acc[c..2c), acc[2c..3c).
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $j) (local.get $c)))
      (local.set $o (i32.shl (local.get $j) (i32.const 2)))
      (local.set $s1 (f64.load (i32.add (local.get $tot) (i32.shl (local.get $j) (i32.const 3)))))
      (local.set $s2 (f64.load
        (i32.add (local.get $tot) (i32.shl (i32.add (local.get $j) (local.get $c)) (i32.const 3)))))
      (local.set $r (f64.div (f64.const 1)
        (f64.sqrt (f64.add
          (f64.promote_f32 (f32.load (i32.add (i32.add (local.get $stats) (local.get $t)) (local.get $o))))
          (local.get $eps)))))
      (local.set $g (f64.const 1))
      (if (local.get $gamma)
        (then (local.set $g (f64.promote_f32 (f32.load (i32.add (local.get $gamma) (local.get $o)))))))
      (f32.store (i32.add (local.get $dgb) (local.get $o)) (f32.demote_f64 (f64.mul (local.get $r) (local.get $s2))))
      (f32.store (i32.add (i32.add (local.get $dgb) (local.get $t)) (local.get $o)) (f32.demote_f64 (local.get $s1)))
      (local.set $k (f64.mul (local.get $g) (local.get $r)))
      (f32.store (i32.add (local.get $acc) (local.get $o)) (f32.demote_f64 (local.get $k)))
      (f32.store (i32.add (i32.add (local.get $acc) (local.get $t)) (local.get $o))
        (f32.demote_f64
          (f64.neg (f64.div (f64.mul (f64.mul (local.get $k) (f64.mul (local.get $r) (local.get $r))) (local.get $s2))
            (local.get $mf)))))
      (f32.store (i32.add (i32.add (local.get $acc) (i32.shl (local.get $t) (i32.const 1))) (local.get $o))
        (f32.demote_f64 (f64.neg (f64.div (f64.mul (local.get $k) (local.get $s1)) (local.get $mf)))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $next)))
    (call $devAffine2 (local.get $dy) (local.get $x) (local.get $stats) (local.get $acc)
      (i32.add (local.get $acc) (local.get $t))
      (i32.add (local.get $acc) (i32.shl (local.get $t) (i32.const 1)))
      (local.get $m) (local.get $c) (local.get $dx)))

  ;; $devAffine(x, mean, a, b, m, c, out): out[i, j] = a[j]·(x[i, j] − mean[j]) + b[j].
  (func $devAffine
    (param $x i32) (param $mean i32) (param $a i32) (param $b i32) (param $m i32) (param $c i32)
    (param $out i32)
    (local $i i32) (local $j i32) (local $c4 i32) (local $o i32)
    (local.set $c4 (i32.and (local.get $c) (i32.const -4)))
    (block $rd (loop $rl
      (br_if $rd (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $j (i32.const 0))
      (block $vd (loop $vl
        (br_if $vd (i32.ge_u (local.get $j) (local.get $c4)))
        (local.set $o (i32.shl (local.get $j) (i32.const 2)))
        (v128.store (local.get $out)
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $a) (local.get $o)))
              (f32x4.sub (v128.load (local.get $x)) (v128.load (i32.add (local.get $mean) (local.get $o)))))
            (v128.load (i32.add (local.get $b) (local.get $o)))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $vl)))
      (block $sd (loop $sl
        (br_if $sd (i32.ge_u (local.get $j) (local.get $c)))
        (local.set $o (i32.shl (local.get $j) (i32.const 2)))
        (f32.store (local.get $out)
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $a) (local.get $o)))
              (f32.sub (f32.load (local.get $x)) (f32.load (i32.add (local.get $mean) (local.get $o)))))
            (f32.load (i32.add (local.get $b) (local.get $o)))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $sl)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $rl))))

  ;; $devAffine2(p, q, mean, a, b, d, m, c, out):
  ;;   out[i, j] = a[j]·p[i, j] + b[j]·(q[i, j] − mean[j]) + d[j].
  (func $devAffine2
    (param $p i32) (param $q i32) (param $mean i32) (param $a i32) (param $b i32) (param $d i32)
    (param $m i32) (param $c i32) (param $out i32)
    (local $i i32) (local $j i32) (local $c4 i32) (local $o i32)
    (local.set $c4 (i32.and (local.get $c) (i32.const -4)))
    (block $rd (loop $rl
      (br_if $rd (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $j (i32.const 0))
      (block $vd (loop $vl
        (br_if $vd (i32.ge_u (local.get $j) (local.get $c4)))
        (local.set $o (i32.shl (local.get $j) (i32.const 2)))
        (v128.store (local.get $out)
          (f32x4.add
            (f32x4.add
              (f32x4.mul (v128.load (i32.add (local.get $a) (local.get $o))) (v128.load (local.get $p)))
              (f32x4.mul (v128.load (i32.add (local.get $b) (local.get $o)))
                (f32x4.sub (v128.load (local.get $q)) (v128.load (i32.add (local.get $mean) (local.get $o))))))
            (v128.load (i32.add (local.get $d) (local.get $o)))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (local.set $q (i32.add (local.get $q) (i32.const 16)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $vl)))
      (block $sd (loop $sl
        (br_if $sd (i32.ge_u (local.get $j) (local.get $c)))
        (local.set $o (i32.shl (local.get $j) (i32.const 2)))
        (f32.store (local.get $out)
          (f32.add
            (f32.add
              (f32.mul (f32.load (i32.add (local.get $a) (local.get $o))) (f32.load (local.get $p)))
              (f32.mul (f32.load (i32.add (local.get $b) (local.get $o)))
                (f32.sub (f32.load (local.get $q)) (f32.load (i32.add (local.get $mean) (local.get $o))))))
            (f32.load (i32.add (local.get $d) (local.get $o)))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (local.set $q (i32.add (local.get $q) (i32.const 4)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $sl)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $rl))))

  ;; --------------------------------------------------------------------- activation gradient

  ;; maskGrad(dy, x, lo, hi, n, out): out = dy where lo < x ≤ hi, else 0 (also for NaN x).
  ;; ReLU's gradient is (lo, hi) = (0, ∞), ReLU6's (0, 6], as tfjs-core defines them.
  (func (export "maskGrad")
    (param $dy i32) (param $x i32) (param $lo f32) (param $hi f32) (param $n i32) (param $out i32)
    (local $n4 i32) (local $i i32) (local $vlo v128) (local $vhi v128) (local $v v128) (local $s f32)
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (local.set $vlo (f32x4.splat (local.get $lo)))
    (local.set $vhi (f32x4.splat (local.get $hi)))
    (block $vd (loop $vl
      (br_if $vd (i32.ge_u (local.get $i) (local.get $n4)))
      (local.set $v (v128.load (local.get $x)))
      (v128.store (local.get $out)
        (v128.and (v128.load (local.get $dy))
          (v128.and (f32x4.gt (local.get $v) (local.get $vlo)) (f32x4.le (local.get $v) (local.get $vhi)))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $dy (i32.add (local.get $dy) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $vl)))
    (block $sd (loop $sl
      (br_if $sd (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $s (f32.load (local.get $x)))
      (f32.store (local.get $out)
        (select (f32.load (local.get $dy)) (f32.const 0)
          (i32.and (f32.gt (local.get $s) (local.get $lo)) (f32.le (local.get $s) (local.get $hi)))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $dy (i32.add (local.get $dy) (i32.const 4)))
      (local.set $out (i32.add (local.get $out) (i32.const 4)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $sl))))

;; swishGrad(dy, x, s, n, out): the gradient of swish y = x·σ(x) given s = σ(x):
  ;; out = dy·(σ + x·σ·(1 − σ)) = dy·s·(1 + x·(1 − s)).
  (func (export "swishGrad")
    (param $dy i32) (param $x i32) (param $s i32) (param $n i32) (param $out i32)
    (local $n4 i32) (local $i i32) (local $one v128) (local $vs v128) (local $v f32)
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (local.set $one (f32x4.splat (f32.const 1)))
    (block $vd (loop $vl
      (br_if $vd (i32.ge_u (local.get $i) (local.get $n4)))
      (local.set $vs (v128.load (local.get $s)))
      (v128.store (local.get $out)
        (f32x4.mul (v128.load (local.get $dy))
          (f32x4.mul (local.get $vs)
            (f32x4.add (local.get $one)
              (f32x4.mul (v128.load (local.get $x)) (f32x4.sub (local.get $one) (local.get $vs)))))))
      (local.set $dy (i32.add (local.get $dy) (i32.const 16)))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $s (i32.add (local.get $s) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $vl)))
    (block $sd (loop $sl
      (br_if $sd (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $v (f32.load (local.get $s)))
      (f32.store (local.get $out)
        (f32.mul (f32.load (local.get $dy))
          (f32.mul (local.get $v)
            (f32.add (f32.const 1)
              (f32.mul (f32.load (local.get $x)) (f32.sub (f32.const 1) (local.get $v)))))))
      (local.set $dy (i32.add (local.get $dy) (i32.const 4)))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $s (i32.add (local.get $s) (i32.const 4)))
      (local.set $out (i32.add (local.get $out) (i32.const 4)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $sl))))

  ;; ------------------------------------------------------------------ layout changes

  ;; gather(src, n, h, w, c, oh, ow, sh, sw, top, left, dst): the strided subsampling a 1×1
  ;; convolution reads, dst[b, o, q, :] = src[b, o·sh − top, q·sw − left, :], 0 outside src.
  (func (export "gather")
    (param $src i32) (param $n i32) (param $h i32) (param $w i32) (param $c i32) (param $oh i32)
    (param $ow i32) (param $sh i32) (param $sw i32) (param $top i32) (param $left i32) (param $dst i32)
    (local $b i32) (local $o i32) (local $q i32) (local $hh i32) (local $ww i32) (local $rb i32)
    (local.set $rb (i32.shl (local.get $c) (i32.const 2)))
    (block $bd (loop $bl
      (br_if $bd (i32.ge_u (local.get $b) (local.get $n)))
      (local.set $o (i32.const 0))
      (block $od (loop $ol
        (br_if $od (i32.ge_u (local.get $o) (local.get $oh)))
        (local.set $hh (i32.sub (i32.mul (local.get $o) (local.get $sh)) (local.get $top)))
        (local.set $q (i32.const 0))
        (block $qd (loop $ql
          (br_if $qd (i32.ge_u (local.get $q) (local.get $ow)))
          (local.set $ww (i32.sub (i32.mul (local.get $q) (local.get $sw)) (local.get $left)))
          (if (call $inside (local.get $hh) (local.get $h) (local.get $ww) (local.get $w))
            (then
              (memory.copy (local.get $dst)
                (i32.add (local.get $src)
                  (i32.mul
                    (i32.add
                      (i32.mul (i32.add (i32.mul (local.get $b) (local.get $h)) (local.get $hh)) (local.get $w))
                      (local.get $ww))
                    (local.get $rb)))
                (local.get $rb)))
            (else (memory.fill (local.get $dst) (i32.const 0) (local.get $rb))))
          (local.set $dst (i32.add (local.get $dst) (local.get $rb)))
          (local.set $q (i32.add (local.get $q) (i32.const 1)))
          (br $ql)))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $ol)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bl))))

  ;; scatter(src, n, oh, ow, c, h, w, sh, sw, top, left, dst): gather's adjoint, dst = 0 then
  ;; dst[b, o·sh − top, q·sw − left, :] = src[b, o, q, :] where that is inside dst. It inserts
  ;; sh − 1 and sw − 1 zeros between rows and columns and pads (top, left < 0) or crops.
  (func (export "scatter")
    (param $src i32) (param $n i32) (param $oh i32) (param $ow i32) (param $c i32) (param $h i32)
    (param $w i32) (param $sh i32) (param $sw i32) (param $top i32) (param $left i32) (param $dst i32)
    (local $b i32) (local $o i32) (local $q i32) (local $hh i32) (local $ww i32) (local $rb i32)
    (local.set $rb (i32.shl (local.get $c) (i32.const 2)))
    (memory.fill (local.get $dst) (i32.const 0)
      (i32.mul (i32.mul (i32.mul (local.get $n) (local.get $h)) (local.get $w)) (local.get $rb)))
    (block $bd (loop $bl
      (br_if $bd (i32.ge_u (local.get $b) (local.get $n)))
      (local.set $o (i32.const 0))
      (block $od (loop $ol
        (br_if $od (i32.ge_u (local.get $o) (local.get $oh)))
        (local.set $hh (i32.sub (i32.mul (local.get $o) (local.get $sh)) (local.get $top)))
        (local.set $q (i32.const 0))
        (block $qd (loop $ql
          (br_if $qd (i32.ge_u (local.get $q) (local.get $ow)))
          (local.set $ww (i32.sub (i32.mul (local.get $q) (local.get $sw)) (local.get $left)))
          (if (call $inside (local.get $hh) (local.get $h) (local.get $ww) (local.get $w))
            (then
              (memory.copy
                (i32.add (local.get $dst)
                  (i32.mul
                    (i32.add
                      (i32.mul (i32.add (i32.mul (local.get $b) (local.get $h)) (local.get $hh)) (local.get $w))
                      (local.get $ww))
                    (local.get $rb)))
                (local.get $src)
                (local.get $rb))))
          (local.set $src (i32.add (local.get $src) (local.get $rb)))
          (local.set $q (i32.add (local.get $q) (i32.const 1)))
          (br $ql)))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $ol)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bl))))

  ;; 0 ≤ hh < h and 0 ≤ ww < w.
  (func $inside (param $hh i32) (param $h i32) (param $ww i32) (param $w i32) (result i32)
    (i32.and
      (i32.and (i32.ge_s (local.get $hh) (i32.const 0)) (i32.lt_s (local.get $hh) (local.get $h)))
      (i32.and (i32.ge_s (local.get $ww) (i32.const 0)) (i32.lt_s (local.get $ww) (local.get $w)))))

  ;; swap01(x, a, b, len, out): out[j, i, :] = x[i, j, :] for an a × b × len tensor.
  (func (export "swap01")
    (param $x i32) (param $a i32) (param $b i32) (param $len i32) (param $out i32)
    (local $i i32) (local $j i32) (local $rb i32)
    (local.set $rb (i32.shl (local.get $len) (i32.const 2)))
    (block $id (loop $il
      (br_if $id (i32.ge_u (local.get $i) (local.get $a)))
      (local.set $j (i32.const 0))
      (block $jd (loop $jl
        (br_if $jd (i32.ge_u (local.get $j) (local.get $b)))
        (memory.copy
          (i32.add (local.get $out)
            (i32.mul (i32.add (i32.mul (local.get $j) (local.get $a)) (local.get $i)) (local.get $rb)))
          (local.get $x)
          (local.get $rb))
        (local.set $x (i32.add (local.get $x) (local.get $rb)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jl)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $il))))

  ;; transpose(x, rows, cols, out): out[j, i] = x[i, j]. Tiles of 4 × 4 are transposed in
  ;; registers (two rounds of lane shuffles); a band of four input rows is read sequentially
  ;; while each output row receives 16 bytes, so a band of 16 rows fills whole cache lines.
  (func $transpose (export "transpose")
    (param $x i32) (param $rows i32) (param $cols i32) (param $out i32)
    (local $i i32) (local $j i32) (local $r4 i32) (local $c4 i32) (local $rb i32) (local $ob i32)
    (local $p i32) (local $q i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $r4 (i32.and (local.get $rows) (i32.const -4)))
    (local.set $c4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $rb (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $ob (i32.shl (local.get $rows) (i32.const 2)))
    (block $id (loop $il
      (br_if $id (i32.ge_u (local.get $i) (local.get $r4)))
      (local.set $j (i32.const 0))
      (block $jd (loop $jl
        (br_if $jd (i32.ge_u (local.get $j) (local.get $c4)))
        (local.set $p (i32.add (local.get $x)
          (i32.shl (i32.add (i32.mul (local.get $i) (local.get $cols)) (local.get $j)) (i32.const 2))))
        (local.set $v0 (v128.load (local.get $p)))
        (local.set $v1 (v128.load (i32.add (local.get $p) (local.get $rb))))
        (local.set $v2 (v128.load (i32.add (local.get $p) (i32.shl (local.get $rb) (i32.const 1)))))
        (local.set $v3 (v128.load (i32.add (local.get $p) (i32.mul (local.get $rb) (i32.const 3)))))
        ;; t0 = [v0₀ v1₀ v0₁ v1₁], t1 = [v2₀ v3₀ v2₁ v3₁], t2 = [v0₂ v1₂ v0₃ v1₃], t3 = [v2₂ v3₂ v2₃ v3₃]
        (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v0) (local.get $v1)))
        (local.set $t1 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v2) (local.get $v3)))
        (local.set $t2 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v0) (local.get $v1)))
        (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v2) (local.get $v3)))
        (local.set $q (i32.add (local.get $out)
          (i32.shl (i32.add (i32.mul (local.get $j) (local.get $rows)) (local.get $i)) (i32.const 2))))
        (v128.store (local.get $q)
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t1)))
        (v128.store (i32.add (local.get $q) (local.get $ob))
          (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t1)))
        (v128.store (i32.add (local.get $q) (i32.shl (local.get $ob) (i32.const 1)))
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t2) (local.get $t3)))
        (v128.store (i32.add (local.get $q) (i32.mul (local.get $ob) (i32.const 3)))
          (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t2) (local.get $t3)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $jl)))
      ;; The cols mod 4 last columns of these four rows.
      (block $cd (loop $cl
        (br_if $cd (i32.ge_u (local.get $j) (local.get $cols)))
        (call $column (local.get $x) (local.get $cols) (local.get $rows) (local.get $out)
          (local.get $i) (i32.add (local.get $i) (i32.const 4)) (local.get $j))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $cl)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $il)))
    ;; The rows mod 4 last rows.
    (local.set $j (i32.const 0))
    (block $rd (loop $rl
      (br_if $rd (i32.ge_u (local.get $j) (local.get $cols)))
      (call $column (local.get $x) (local.get $cols) (local.get $rows) (local.get $out)
        (local.get $r4) (local.get $rows) (local.get $j))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $rl))))

  ;; out[j, i] = x[i, j] for i0 ≤ i < i1.
  (func $column (param $x i32) (param $cols i32) (param $rows i32) (param $out i32) (param $i0 i32)
    (param $i1 i32) (param $j i32)
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $i0) (local.get $i1)))
      (f32.store
        (i32.add (local.get $out)
          (i32.shl (i32.add (i32.mul (local.get $j) (local.get $rows)) (local.get $i0)) (i32.const 2)))
        (f32.load
          (i32.add (local.get $x)
            (i32.shl (i32.add (i32.mul (local.get $i0) (local.get $cols)) (local.get $j)) (i32.const 2)))))
      (local.set $i0 (i32.add (local.get $i0) (i32.const 1)))
      (br $l))))

  ;; flipFilter(f, taps, ci, co, out): a convolution filter [kh, kw, ci, co] (taps = kh·kw) flipped
  ;; in space and with its channel axes swapped, out[kh − 1 − i, kw − 1 − j] = f[i, j]ᵀ: the filter
  ;; of the input-gradient convolution.
  (func (export "flipFilter")
    (param $f i32) (param $taps i32) (param $ci i32) (param $co i32) (param $out i32)
    (local $t i32) (local $bytes i32)
    (local.set $bytes (i32.shl (i32.mul (local.get $ci) (local.get $co)) (i32.const 2)))
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $t) (local.get $taps)))
      (call $transpose
        (i32.add (local.get $f) (i32.mul (local.get $t) (local.get $bytes)))
        (local.get $ci) (local.get $co)
        (i32.add (local.get $out)
          (i32.mul (i32.sub (i32.sub (local.get $taps) (i32.const 1)) (local.get $t)) (local.get $bytes))))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (br $l))))

  ;; im2col(x, n, h, w, c, oh, ow, kh, kw, sh, sw, pt, pl, out): the patches a convolution reads,
  ;;   out[b, o, q, i, j, :] = x[b, o·sh − pt + i, q·sw − pl + j, :], 0 outside x.
  (func (export "im2col")
    (param $x i32) (param $n i32) (param $h i32) (param $w i32) (param $c i32) (param $oh i32)
    (param $ow i32) (param $kh i32) (param $kw i32) (param $sh i32) (param $sw i32) (param $pt i32)
    (param $pl i32) (param $out i32)
    (local $b i32) (local $o i32) (local $q i32) (local $i i32) (local $j i32) (local $hh i32)
    (local $ww i32) (local $rb i32)
    (local.set $rb (i32.shl (local.get $c) (i32.const 2)))
    (block $bd (loop $bl
      (br_if $bd (i32.ge_u (local.get $b) (local.get $n)))
      (local.set $o (i32.const 0))
      (block $od (loop $ol
        (br_if $od (i32.ge_u (local.get $o) (local.get $oh)))
        (local.set $q (i32.const 0))
        (block $qd (loop $ql
          (br_if $qd (i32.ge_u (local.get $q) (local.get $ow)))
          (local.set $i (i32.const 0))
          (block $id (loop $il
            (br_if $id (i32.ge_u (local.get $i) (local.get $kh)))
            (local.set $hh (i32.add (i32.sub (i32.mul (local.get $o) (local.get $sh)) (local.get $pt)) (local.get $i)))
            (local.set $j (i32.const 0))
            (block $jd (loop $jl
              (br_if $jd (i32.ge_u (local.get $j) (local.get $kw)))
              (local.set $ww (i32.add (i32.sub (i32.mul (local.get $q) (local.get $sw)) (local.get $pl)) (local.get $j)))
              (if (call $inside (local.get $hh) (local.get $h) (local.get $ww) (local.get $w))
                (then
                  (memory.copy (local.get $out)
                    (i32.add (local.get $x)
                      (i32.mul
                        (i32.add
                          (i32.mul (i32.add (i32.mul (local.get $b) (local.get $h)) (local.get $hh)) (local.get $w))
                          (local.get $ww))
                        (local.get $rb)))
                    (local.get $rb)))
                (else (memory.fill (local.get $out) (i32.const 0) (local.get $rb))))
              (local.set $out (i32.add (local.get $out) (local.get $rb)))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br $jl)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $il)))
          (local.set $q (i32.add (local.get $q) (i32.const 1)))
          (br $ql)))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $ol)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bl))))

  ;; col2im(t, n, h, w, c, oh, ow, kh, kw, sh, sw, pt, pl, out): im2col's adjoint, out = 0 then
  ;;   out[b, o·sh − pt + i, q·sw − pl + j, :] += t[b, o, q, i, j, :] where inside out.
  (func (export "col2im")
    (param $t i32) (param $n i32) (param $h i32) (param $w i32) (param $c i32) (param $oh i32)
    (param $ow i32) (param $kh i32) (param $kw i32) (param $sh i32) (param $sw i32) (param $pt i32)
    (param $pl i32) (param $out i32)
    (local $b i32) (local $o i32) (local $q i32) (local $i i32) (local $j i32) (local $hh i32)
    (local $ww i32) (local $rb i32) (local $c4 i32) (local $ch i32) (local $dst i32)
    (local.set $rb (i32.shl (local.get $c) (i32.const 2)))
    (local.set $c4 (i32.and (local.get $c) (i32.const -4)))
    (memory.fill (local.get $out) (i32.const 0)
      (i32.mul (i32.mul (i32.mul (local.get $n) (local.get $h)) (local.get $w)) (local.get $rb)))
    (block $bd (loop $bl
      (br_if $bd (i32.ge_u (local.get $b) (local.get $n)))
      (local.set $o (i32.const 0))
      (block $od (loop $ol
        (br_if $od (i32.ge_u (local.get $o) (local.get $oh)))
        (local.set $q (i32.const 0))
        (block $qd (loop $ql
          (br_if $qd (i32.ge_u (local.get $q) (local.get $ow)))
          (local.set $i (i32.const 0))
          (block $id (loop $il
            (br_if $id (i32.ge_u (local.get $i) (local.get $kh)))
            (local.set $hh (i32.add (i32.sub (i32.mul (local.get $o) (local.get $sh)) (local.get $pt)) (local.get $i)))
            (local.set $j (i32.const 0))
            (block $jd (loop $jl
              (br_if $jd (i32.ge_u (local.get $j) (local.get $kw)))
              (local.set $ww (i32.add (i32.sub (i32.mul (local.get $q) (local.get $sw)) (local.get $pl)) (local.get $j)))
              (if (call $inside (local.get $hh) (local.get $h) (local.get $ww) (local.get $w))
                (then
                  (local.set $dst (i32.add (local.get $out)
                    (i32.mul
                      (i32.add
                        (i32.mul (i32.add (i32.mul (local.get $b) (local.get $h)) (local.get $hh)) (local.get $w))
                        (local.get $ww))
                      (local.get $rb))))
                  (local.set $ch (i32.const 0))
                  (block $vd (loop $vl
                    (br_if $vd (i32.ge_u (local.get $ch) (local.get $c4)))
                    (v128.store (i32.add (local.get $dst) (i32.shl (local.get $ch) (i32.const 2)))
                      (f32x4.add
                        (v128.load (i32.add (local.get $dst) (i32.shl (local.get $ch) (i32.const 2))))
                        (v128.load (i32.add (local.get $t) (i32.shl (local.get $ch) (i32.const 2))))))
                    (local.set $ch (i32.add (local.get $ch) (i32.const 4)))
                    (br $vl)))
                  (block $sd (loop $sl
                    (br_if $sd (i32.ge_u (local.get $ch) (local.get $c)))
                    (f32.store (i32.add (local.get $dst) (i32.shl (local.get $ch) (i32.const 2)))
                      (f32.add
                        (f32.load (i32.add (local.get $dst) (i32.shl (local.get $ch) (i32.const 2))))
                        (f32.load (i32.add (local.get $t) (i32.shl (local.get $ch) (i32.const 2))))))
                    (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
                    (br $sl)))))
              (local.set $t (i32.add (local.get $t) (local.get $rb)))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br $jl)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $il)))
          (local.set $q (i32.add (local.get $q) (i32.const 1)))
          (br $ql)))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $ol)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bl))))

;; maxPoolGrad(x, dy, n, h, w, c, oh, ow, kh, kw, sh, sw, pt, pl, scratch, out): out = 0, then
  ;; for each output (b, o, q, ch) dy is added at the input position of the window's maximum —
  ;; the first in row-major window order that is strictly greater than all before it, starting
  ;; from −∞, over the taps inside x (tfjs' maxPoolPositions; none, no gradient). Per output
  ;; position: each tap's row of c values updates the running maximum and winning tap of every
  ;; channel (scratch: c floats, then c ints), then each tap adds dy where it won.
  (func (export "maxPoolGrad")
    (param $x i32) (param $dy i32) (param $n i32) (param $h i32) (param $w i32) (param $c i32)
    (param $oh i32) (param $ow i32) (param $kh i32) (param $kw i32) (param $sh i32) (param $sw i32)
    (param $pt i32) (param $pl i32) (param $scratch i32) (param $out i32)
    (local $b i32) (local $o i32) (local $q i32) (local $i i32) (local $j i32) (local $tap i32)
    (local $p i32) (local $rb i32) (local $c4 i32) (local $ch i32) (local $best i32) (local $pos i32)
    (local $row i32) (local $g i32) (local $k i32) (local $m v128) (local $v v128) (local $t v128)
    (local.set $rb (i32.shl (local.get $c) (i32.const 2)))
    (local.set $c4 (i32.and (local.get $c) (i32.const -4)))
    (local.set $best (local.get $scratch))
    (local.set $pos (i32.add (local.get $scratch) (local.get $rb)))
    (memory.fill (local.get $out) (i32.const 0)
      (i32.mul (i32.mul (i32.mul (local.get $n) (local.get $h)) (local.get $w)) (local.get $rb)))
    (block $bd (loop $bl
      (br_if $bd (i32.ge_u (local.get $b) (local.get $n)))
      (local.set $o (i32.const 0))
      (block $od (loop $ol
        (br_if $od (i32.ge_u (local.get $o) (local.get $oh)))
        (local.set $q (i32.const 0))
        (block $qd (loop $ql
          (br_if $qd (i32.ge_u (local.get $q) (local.get $ow)))
          ;; best = −∞, pos = −1
          (local.set $ch (i32.const 0))
          (block $fd (loop $fl
            (br_if $fd (i32.ge_u (local.get $ch) (local.get $c)))
            (local.set $k (i32.shl (local.get $ch) (i32.const 2)))
            (f32.store (i32.add (local.get $best) (local.get $k)) (f32.const -inf))
            (i32.store (i32.add (local.get $pos) (local.get $k)) (i32.const -1))
            (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
            (br $fl)))
          ;; Phase 1: running maximum and winning tap per channel.
          (local.set $tap (i32.const 0))
          (local.set $i (i32.const 0))
          (block $id (loop $il
            (br_if $id (i32.ge_u (local.get $i) (local.get $kh)))
            (local.set $j (i32.const 0))
            (block $jd (loop $jl
              (br_if $jd (i32.ge_u (local.get $j) (local.get $kw)))
              (local.set $p (call $poolAt (local.get $b) (local.get $o) (local.get $q) (local.get $i)
                (local.get $j) (local.get $h) (local.get $w) (local.get $sh) (local.get $sw)
                (local.get $pt) (local.get $pl)))
              (if (i32.ge_s (local.get $p) (i32.const 0))
                (then
                  (local.set $row (i32.add (local.get $x) (i32.mul (local.get $p) (local.get $rb))))
                  (local.set $t (i32x4.splat (local.get $tap)))
                  (local.set $ch (i32.const 0))
                  (block $vd (loop $vl
                    (br_if $vd (i32.ge_u (local.get $ch) (local.get $c4)))
                    (local.set $k (i32.shl (local.get $ch) (i32.const 2)))
                    (local.set $v (v128.load (i32.add (local.get $row) (local.get $k))))
                    (local.set $m (f32x4.gt (local.get $v) (v128.load (i32.add (local.get $best) (local.get $k)))))
                    (v128.store (i32.add (local.get $best) (local.get $k))
                      (v128.bitselect (local.get $v) (v128.load (i32.add (local.get $best) (local.get $k))) (local.get $m)))
                    (v128.store (i32.add (local.get $pos) (local.get $k))
                      (v128.bitselect (local.get $t) (v128.load (i32.add (local.get $pos) (local.get $k))) (local.get $m)))
                    (local.set $ch (i32.add (local.get $ch) (i32.const 4)))
                    (br $vl)))
                  (block $sd (loop $sl
                    (br_if $sd (i32.ge_u (local.get $ch) (local.get $c)))
                    (local.set $k (i32.shl (local.get $ch) (i32.const 2)))
                    (if (f32.gt (f32.load (i32.add (local.get $row) (local.get $k)))
                          (f32.load (i32.add (local.get $best) (local.get $k))))
                      (then
                        (f32.store (i32.add (local.get $best) (local.get $k))
                          (f32.load (i32.add (local.get $row) (local.get $k))))
                        (i32.store (i32.add (local.get $pos) (local.get $k)) (local.get $tap))))
                    (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
                    (br $sl)))))
              (local.set $tap (i32.add (local.get $tap) (i32.const 1)))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br $jl)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $il)))
          ;; Phase 2: dy to each channel's winner.
          (local.set $g (i32.add (local.get $dy)
            (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $oh)) (local.get $o))
              (local.get $ow)) (local.get $q)) (local.get $rb))))
          (local.set $tap (i32.const 0))
          (local.set $i (i32.const 0))
          (block $id2 (loop $il2
            (br_if $id2 (i32.ge_u (local.get $i) (local.get $kh)))
            (local.set $j (i32.const 0))
            (block $jd2 (loop $jl2
              (br_if $jd2 (i32.ge_u (local.get $j) (local.get $kw)))
              (local.set $p (call $poolAt (local.get $b) (local.get $o) (local.get $q) (local.get $i)
                (local.get $j) (local.get $h) (local.get $w) (local.get $sh) (local.get $sw)
                (local.get $pt) (local.get $pl)))
              (if (i32.ge_s (local.get $p) (i32.const 0))
                (then
                  (local.set $row (i32.add (local.get $out) (i32.mul (local.get $p) (local.get $rb))))
                  (local.set $t (i32x4.splat (local.get $tap)))
                  (local.set $ch (i32.const 0))
                  (block $vd2 (loop $vl2
                    (br_if $vd2 (i32.ge_u (local.get $ch) (local.get $c4)))
                    (local.set $k (i32.shl (local.get $ch) (i32.const 2)))
                    (v128.store (i32.add (local.get $row) (local.get $k))
                      (f32x4.add (v128.load (i32.add (local.get $row) (local.get $k)))
                        (v128.and (v128.load (i32.add (local.get $g) (local.get $k)))
                          (i32x4.eq (v128.load (i32.add (local.get $pos) (local.get $k))) (local.get $t)))))
                    (local.set $ch (i32.add (local.get $ch) (i32.const 4)))
                    (br $vl2)))
                  (block $sd2 (loop $sl2
                    (br_if $sd2 (i32.ge_u (local.get $ch) (local.get $c)))
                    (local.set $k (i32.shl (local.get $ch) (i32.const 2)))
                    (if (i32.eq (i32.load (i32.add (local.get $pos) (local.get $k))) (local.get $tap))
                      (then
                        (f32.store (i32.add (local.get $row) (local.get $k))
                          (f32.add (f32.load (i32.add (local.get $row) (local.get $k)))
                            (f32.load (i32.add (local.get $g) (local.get $k)))))))
                    (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
                    (br $sl2)))))
              (local.set $tap (i32.add (local.get $tap) (i32.const 1)))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br $jl2)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $il2)))
          (local.set $q (i32.add (local.get $q) (i32.const 1)))
          (br $ql)))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $ol)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bl))))

  ;; avgPoolGrad(dy, n, h, w, c, oh, ow, kh, kw, sh, sw, pt, pl, scale, out): out = 0, then
  ;; out[b, o·sh − pt + i, q·sw − pl + j, :] += scale·dy[b, o, q, :] for every tap inside —
  ;; tfjs' AvgPoolGrad with scale = 1/(kh·kw).
  (func (export "avgPoolGrad")
    (param $dy i32) (param $n i32) (param $h i32) (param $w i32) (param $c i32) (param $oh i32)
    (param $ow i32) (param $kh i32) (param $kw i32) (param $sh i32) (param $sw i32) (param $pt i32)
    (param $pl i32) (param $scale f32) (param $out i32)
    (local $b i32) (local $o i32) (local $q i32) (local $i i32) (local $j i32) (local $p i32)
    (local $rb i32) (local $c4 i32) (local $ch i32) (local $k i32) (local $row i32) (local $vs v128)
    (local.set $rb (i32.shl (local.get $c) (i32.const 2)))
    (local.set $c4 (i32.and (local.get $c) (i32.const -4)))
    (local.set $vs (f32x4.splat (local.get $scale)))
    (memory.fill (local.get $out) (i32.const 0)
      (i32.mul (i32.mul (i32.mul (local.get $n) (local.get $h)) (local.get $w)) (local.get $rb)))
    (block $bd (loop $bl
      (br_if $bd (i32.ge_u (local.get $b) (local.get $n)))
      (local.set $o (i32.const 0))
      (block $od (loop $ol
        (br_if $od (i32.ge_u (local.get $o) (local.get $oh)))
        (local.set $q (i32.const 0))
        (block $qd (loop $ql
          (br_if $qd (i32.ge_u (local.get $q) (local.get $ow)))
          (local.set $i (i32.const 0))
          (block $id (loop $il
            (br_if $id (i32.ge_u (local.get $i) (local.get $kh)))
            (local.set $j (i32.const 0))
            (block $jd (loop $jl
              (br_if $jd (i32.ge_u (local.get $j) (local.get $kw)))
              (local.set $p (call $poolAt (local.get $b) (local.get $o) (local.get $q) (local.get $i)
                (local.get $j) (local.get $h) (local.get $w) (local.get $sh) (local.get $sw)
                (local.get $pt) (local.get $pl)))
              (if (i32.ge_s (local.get $p) (i32.const 0))
                (then
                  (local.set $row (i32.add (local.get $out) (i32.mul (local.get $p) (local.get $rb))))
                  (local.set $ch (i32.const 0))
                  (block $vd (loop $vl
                    (br_if $vd (i32.ge_u (local.get $ch) (local.get $c4)))
                    (local.set $k (i32.shl (local.get $ch) (i32.const 2)))
                    (v128.store (i32.add (local.get $row) (local.get $k))
                      (f32x4.add (v128.load (i32.add (local.get $row) (local.get $k)))
                        (f32x4.mul (local.get $vs) (v128.load (i32.add (local.get $dy) (local.get $k))))))
                    (local.set $ch (i32.add (local.get $ch) (i32.const 4)))
                    (br $vl)))
                  (block $sd (loop $sl
                    (br_if $sd (i32.ge_u (local.get $ch) (local.get $c)))
                    (local.set $k (i32.shl (local.get $ch) (i32.const 2)))
                    (f32.store (i32.add (local.get $row) (local.get $k))
                      (f32.add (f32.load (i32.add (local.get $row) (local.get $k)))
                        (f32.mul (local.get $scale) (f32.load (i32.add (local.get $dy) (local.get $k))))))
                    (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
                    (br $sl)))))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br $jl)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $il)))
          (local.set $dy (i32.add (local.get $dy) (local.get $rb)))
          (local.set $q (i32.add (local.get $q) (i32.const 1)))
          (br $ql)))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $ol)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bl))))

  ;; colSlice(x, rows, cols, begin, width, out): out[i, :] = x[i, begin : begin + width], the
  ;; pieces of a split along the last axis (the gradient of a channel concatenation).
  (func (export "colSlice")
    (param $x i32) (param $rows i32) (param $cols i32) (param $begin i32) (param $width i32)
    (param $out i32)
    (local $i i32) (local $rb i32) (local $wb i32)
    (local.set $rb (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $wb (i32.shl (local.get $width) (i32.const 2)))
    (local.set $x (i32.add (local.get $x) (i32.shl (local.get $begin) (i32.const 2))))
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $i) (local.get $rows)))
      (memory.copy (local.get $out) (local.get $x) (local.get $wb))
      (local.set $x (i32.add (local.get $x) (local.get $rb)))
      (local.set $out (i32.add (local.get $out) (local.get $wb)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l))))

  ;; The flat pixel index (b, hh, ww) that tap (i, j) of pooling output (o, q) reads, or −1
  ;; when it lies in the padding.
  (func $poolAt (param $b i32) (param $o i32) (param $q i32) (param $i i32) (param $j i32)
    (param $h i32) (param $w i32) (param $sh i32) (param $sw i32) (param $pt i32) (param $pl i32)
    (result i32)
    (local $hh i32) (local $ww i32)
    (local.set $hh (i32.add (i32.sub (i32.mul (local.get $o) (local.get $sh)) (local.get $pt)) (local.get $i)))
    (local.set $ww (i32.add (i32.sub (i32.mul (local.get $q) (local.get $sw)) (local.get $pl)) (local.get $j)))
    (if (result i32) (call $inside (local.get $hh) (local.get $h) (local.get $ww) (local.get $w))
      (then (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $h)) (local.get $hh)) (local.get $w))
        (local.get $ww)))
      (else (i32.const -1))))

  ;; copy(src, dst, bytes): memory.copy, for contiguous slices.
  (func (export "copy") (param $src i32) (param $dst i32) (param $bytes i32)
    (memory.copy (local.get $dst) (local.get $src) (local.get $bytes)))

  ;; toCHWN(x, n, h, w, c, hp, wp, top, left, out): out[ch, hh, ww, b] = x[b, hh − top, ww − left, ch],
  ;; 0 outside x, for hh < hp, ww < wp: the batch ↔ channel transpose with padding (or cropping)
  ;; that turns a filter gradient into a convolution.
  (func (export "toCHWN")
    (param $x i32) (param $n i32) (param $h i32) (param $w i32) (param $c i32) (param $hp i32)
    (param $wp i32) (param $top i32) (param $left i32) (param $out i32)
    (local $hh i32) (local $ww i32) (local $ch i32) (local $b i32) (local $src i32) (local $dst i32)
    (local $bstride i32) (local $plane i32) (local $h0 i32) (local $w0 i32)
    (local.set $bstride (i32.shl (i32.mul (i32.mul (local.get $h) (local.get $w)) (local.get $c)) (i32.const 2)))
    (local.set $plane (i32.shl (i32.mul (i32.mul (local.get $hp) (local.get $wp)) (local.get $n)) (i32.const 2)))
    (block $hd (loop $hl
      (br_if $hd (i32.ge_u (local.get $hh) (local.get $hp)))
      (local.set $h0 (i32.sub (local.get $hh) (local.get $top)))
      (local.set $ww (i32.const 0))
      (block $wd (loop $wl
        (br_if $wd (i32.ge_u (local.get $ww) (local.get $wp)))
        (local.set $w0 (i32.sub (local.get $ww) (local.get $left)))
        (local.set $dst (i32.add (local.get $out)
          (i32.shl (i32.mul (i32.add (i32.mul (local.get $hh) (local.get $wp)) (local.get $ww)) (local.get $n))
            (i32.const 2))))
        (if (call $inside (local.get $h0) (local.get $h) (local.get $w0) (local.get $w))
          (then
            (local.set $src (i32.add (local.get $x)
              (i32.shl (i32.mul (i32.add (i32.mul (local.get $h0) (local.get $w)) (local.get $w0)) (local.get $c))
                (i32.const 2))))
            (local.set $ch (i32.const 0))
            (block $cd (loop $cl
              (br_if $cd (i32.ge_u (local.get $ch) (local.get $c)))
              (local.set $b (i32.const 0))
              (block $bd (loop $bl
                (br_if $bd (i32.ge_u (local.get $b) (local.get $n)))
                (f32.store
                  (i32.add (local.get $dst) (i32.shl (local.get $b) (i32.const 2)))
                  (f32.load
                    (i32.add (local.get $src)
                      (i32.add (i32.mul (local.get $b) (local.get $bstride)) (i32.shl (local.get $ch) (i32.const 2))))))
                (local.set $b (i32.add (local.get $b) (i32.const 1)))
                (br $bl)))
              (local.set $dst (i32.add (local.get $dst) (local.get $plane)))
              (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
              (br $cl))))
          (else
            (local.set $ch (i32.const 0))
            (block $zd (loop $zl
              (br_if $zd (i32.ge_u (local.get $ch) (local.get $c)))
              (memory.fill (local.get $dst) (i32.const 0) (i32.shl (local.get $n) (i32.const 2)))
              (local.set $dst (i32.add (local.get $dst) (local.get $plane)))
              (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
              (br $zl)))))
        (local.set $ww (i32.add (local.get $ww) (i32.const 1)))
        (br $wl)))
      (local.set $hh (i32.add (local.get $hh) (i32.const 1)))
      (br $hl))))

  ;; ------------------------------------------------------------ depthwise convolution gradients
  ;; Geometry: x [n, h, w, c], dy [n, oh, ow, c], filter [kh, kw, c] (multiplier 1), stride
  ;; (sh, sw), leading pads (pt, pl); tap (i, j) of output (o, q) reads
  ;; x[o·sh − pt + i, q·sw − pl + j]. For each tap column j, $qLow and $qHigh bound the output
  ;; columns whose tap lands inside x, so the inner loops need no bounds tests.

  ;; dwFilterGrad(x, dy, n, h, w, c, oh, ow, kh, kw, sh, sw, pt, pl, acc, tot, out):
  ;;   out[i, j, ch] = Σ_{b, o, q} x[b, o·sh − pt + i, q·sw − pl + j, ch]·dy[b, o, q, ch].
  ;;   acc: kh·kw·c floats (one image); tot: kh·kw·c doubles (all images).
  (func (export "dwFilterGrad")
    (param $x i32) (param $dy i32) (param $n i32) (param $h i32) (param $w i32) (param $c i32)
    (param $oh i32) (param $ow i32) (param $kh i32) (param $kw i32) (param $sh i32) (param $sw i32)
    (param $pt i32) (param $pl i32) (param $acc i32) (param $tot i32) (param $out i32)
    (local $b i32) (local $o i32) (local $i i32) (local $j i32) (local $q i32) (local $ch i32)
    (local $c4 i32) (local $hh i32) (local $xrow i32) (local $dyrow i32) (local $arow i32)
    (local $qhi i32) (local $xp i32) (local $dp i32) (local $ap i32) (local $rb i32)
    (local $xstep i32) (local $taps i32)
    (local.set $c4 (i32.and (local.get $c) (i32.const -4)))
    (local.set $taps (i32.mul (i32.mul (local.get $kh) (local.get $kw)) (local.get $c)))
    (local.set $rb (i32.shl (local.get $c) (i32.const 2)))
    (local.set $xstep (i32.mul (local.get $rb) (local.get $sw)))
    (call $zero32 (local.get $acc) (local.get $taps))
    (call $zero64 (local.get $tot) (local.get $taps))
    (block $bd (loop $bl
      (br_if $bd (i32.ge_u (local.get $b) (local.get $n)))
      (local.set $o (i32.const 0))
      (block $od (loop $ol
        (br_if $od (i32.ge_u (local.get $o) (local.get $oh)))
        (local.set $dyrow (i32.add (local.get $dy)
          (i32.mul (i32.mul (i32.add (i32.mul (local.get $b) (local.get $oh)) (local.get $o)) (local.get $ow))
            (local.get $rb))))
        (local.set $i (i32.const 0))
        (block $id (loop $il
          (br_if $id (i32.ge_u (local.get $i) (local.get $kh)))
          (local.set $hh (i32.add (i32.sub (i32.mul (local.get $o) (local.get $sh)) (local.get $pt)) (local.get $i)))
          (if (i32.and (i32.ge_s (local.get $hh) (i32.const 0)) (i32.lt_s (local.get $hh) (local.get $h)))
            (then
              (local.set $xrow (i32.add (local.get $x)
                (i32.mul (i32.mul (i32.add (i32.mul (local.get $b) (local.get $h)) (local.get $hh)) (local.get $w))
                  (local.get $rb))))
              (local.set $j (i32.const 0))
              (block $jd (loop $jl
                (br_if $jd (i32.ge_u (local.get $j) (local.get $kw)))
                (local.set $q (call $qLow (local.get $pl) (local.get $j) (local.get $sw)))
                (local.set $qhi
                  (call $qHigh (local.get $w) (local.get $pl) (local.get $j) (local.get $sw) (local.get $ow)))
                (local.set $arow (i32.add (local.get $acc)
                  (i32.mul (i32.add (i32.mul (local.get $i) (local.get $kw)) (local.get $j)) (local.get $rb))))
                (local.set $xp (i32.add (local.get $xrow)
                  (i32.mul
                    (i32.add (i32.sub (i32.mul (local.get $q) (local.get $sw)) (local.get $pl)) (local.get $j))
                    (local.get $rb))))
                (local.set $dp (i32.add (local.get $dyrow) (i32.mul (local.get $q) (local.get $rb))))
                (block $qd (loop $ql
                  (br_if $qd (i32.ge_u (local.get $q) (local.get $qhi)))
                  (local.set $ch (i32.const 0))
                  (block $cd (loop $cl
                    (br_if $cd (i32.ge_u (local.get $ch) (local.get $c4)))
                    (local.set $ap (i32.add (local.get $arow) (i32.shl (local.get $ch) (i32.const 2))))
                    (v128.store (local.get $ap)
                      (f32x4.add (v128.load (local.get $ap))
                        (f32x4.mul
                          (v128.load (i32.add (local.get $xp) (i32.shl (local.get $ch) (i32.const 2))))
                          (v128.load (i32.add (local.get $dp) (i32.shl (local.get $ch) (i32.const 2)))))))
                    (local.set $ch (i32.add (local.get $ch) (i32.const 4)))
                    (br $cl)))
                  (block $sd (loop $sl
                    (br_if $sd (i32.ge_u (local.get $ch) (local.get $c)))
                    (local.set $ap (i32.add (local.get $arow) (i32.shl (local.get $ch) (i32.const 2))))
                    (f32.store (local.get $ap)
                      (f32.add (f32.load (local.get $ap))
                        (f32.mul
                          (f32.load (i32.add (local.get $xp) (i32.shl (local.get $ch) (i32.const 2))))
                          (f32.load (i32.add (local.get $dp) (i32.shl (local.get $ch) (i32.const 2)))))))
                    (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
                    (br $sl)))
                  (local.set $xp (i32.add (local.get $xp) (local.get $xstep)))
                  (local.set $dp (i32.add (local.get $dp) (local.get $rb)))
                  (local.set $q (i32.add (local.get $q) (i32.const 1)))
                  (br $ql)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $jl)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $il)))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $ol)))
      (call $flush (local.get $acc) (local.get $tot) (local.get $taps))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bl)))
    (local.set $ch (i32.const 0))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $ch) (local.get $taps)))
      (f32.store (local.get $out) (f32.demote_f64 (f64.load (local.get $tot))))
      (local.set $out (i32.add (local.get $out) (i32.const 4)))
      (local.set $tot (i32.add (local.get $tot) (i32.const 8)))
      (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
      (br $next))))

  ;; dwInputGrad(dy, f, n, h, w, c, oh, ow, kh, kw, sh, sw, pt, pl, out): out = 0, then
  ;;   out[b, o·sh − pt + i, q·sw − pl + j, ch] += f[i, j, ch]·dy[b, o, q, ch]
  ;; for every output (o, q) and tap (i, j) that lands inside, i.e. dx = Σ over the taps that
  ;; read each input position.
  (func (export "dwInputGrad")
    (param $dy i32) (param $f i32) (param $n i32) (param $h i32) (param $w i32) (param $c i32)
    (param $oh i32) (param $ow i32) (param $kh i32) (param $kw i32) (param $sh i32) (param $sw i32)
    (param $pt i32) (param $pl i32) (param $out i32)
    (local $b i32) (local $o i32) (local $i i32) (local $j i32) (local $q i32) (local $ch i32)
    (local $c4 i32) (local $hh i32) (local $xrow i32) (local $dyrow i32) (local $frow i32)
    (local $qhi i32) (local $xp i32) (local $dp i32) (local $op i32) (local $rb i32)
    (local $xstep i32)
    (local.set $c4 (i32.and (local.get $c) (i32.const -4)))
    (local.set $rb (i32.shl (local.get $c) (i32.const 2)))
    (local.set $xstep (i32.mul (local.get $rb) (local.get $sw)))
    (memory.fill (local.get $out) (i32.const 0)
      (i32.mul (i32.mul (i32.mul (local.get $n) (local.get $h)) (local.get $w)) (local.get $rb)))
    (block $bd (loop $bl
      (br_if $bd (i32.ge_u (local.get $b) (local.get $n)))
      (local.set $o (i32.const 0))
      (block $od (loop $ol
        (br_if $od (i32.ge_u (local.get $o) (local.get $oh)))
        (local.set $dyrow (i32.add (local.get $dy)
          (i32.mul (i32.mul (i32.add (i32.mul (local.get $b) (local.get $oh)) (local.get $o)) (local.get $ow))
            (local.get $rb))))
        (local.set $i (i32.const 0))
        (block $id (loop $il
          (br_if $id (i32.ge_u (local.get $i) (local.get $kh)))
          (local.set $hh (i32.add (i32.sub (i32.mul (local.get $o) (local.get $sh)) (local.get $pt)) (local.get $i)))
          (if (i32.and (i32.ge_s (local.get $hh) (i32.const 0)) (i32.lt_s (local.get $hh) (local.get $h)))
            (then
              (local.set $xrow (i32.add (local.get $out)
                (i32.mul (i32.mul (i32.add (i32.mul (local.get $b) (local.get $h)) (local.get $hh)) (local.get $w))
                  (local.get $rb))))
              (local.set $j (i32.const 0))
              (block $jd (loop $jl
                (br_if $jd (i32.ge_u (local.get $j) (local.get $kw)))
                (local.set $q (call $qLow (local.get $pl) (local.get $j) (local.get $sw)))
                (local.set $qhi
                  (call $qHigh (local.get $w) (local.get $pl) (local.get $j) (local.get $sw) (local.get $ow)))
                (local.set $frow (i32.add (local.get $f)
                  (i32.mul (i32.add (i32.mul (local.get $i) (local.get $kw)) (local.get $j)) (local.get $rb))))
                (local.set $xp (i32.add (local.get $xrow)
                  (i32.mul
                    (i32.add (i32.sub (i32.mul (local.get $q) (local.get $sw)) (local.get $pl)) (local.get $j))
                    (local.get $rb))))
                (local.set $dp (i32.add (local.get $dyrow) (i32.mul (local.get $q) (local.get $rb))))
                (block $qd (loop $ql
                  (br_if $qd (i32.ge_u (local.get $q) (local.get $qhi)))
                  (local.set $ch (i32.const 0))
                  (block $cd (loop $cl
                    (br_if $cd (i32.ge_u (local.get $ch) (local.get $c4)))
                    (local.set $op (i32.add (local.get $xp) (i32.shl (local.get $ch) (i32.const 2))))
                    (v128.store (local.get $op)
                      (f32x4.add (v128.load (local.get $op))
                        (f32x4.mul
                          (v128.load (i32.add (local.get $frow) (i32.shl (local.get $ch) (i32.const 2))))
                          (v128.load (i32.add (local.get $dp) (i32.shl (local.get $ch) (i32.const 2)))))))
                    (local.set $ch (i32.add (local.get $ch) (i32.const 4)))
                    (br $cl)))
                  (block $sd (loop $sl
                    (br_if $sd (i32.ge_u (local.get $ch) (local.get $c)))
                    (local.set $op (i32.add (local.get $xp) (i32.shl (local.get $ch) (i32.const 2))))
                    (f32.store (local.get $op)
                      (f32.add (f32.load (local.get $op))
                        (f32.mul
                          (f32.load (i32.add (local.get $frow) (i32.shl (local.get $ch) (i32.const 2))))
                          (f32.load (i32.add (local.get $dp) (i32.shl (local.get $ch) (i32.const 2)))))))
                    (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
                    (br $sl)))
                  (local.set $xp (i32.add (local.get $xp) (local.get $xstep)))
                  (local.set $dp (i32.add (local.get $dp) (local.get $rb)))
                  (local.set $q (i32.add (local.get $q) (i32.const 1)))
                  (br $ql)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $jl)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $il)))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $ol)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bl))))

  ;; The first output column q whose tap j lands inside: q·sw − pl + j ≥ 0.
  (func $qLow (param $pl i32) (param $j i32) (param $sw i32) (result i32)
    (local $t i32)
    (local.set $t (i32.sub (local.get $pl) (local.get $j)))
    (if (result i32) (i32.gt_s (local.get $t) (i32.const 0))
      (then (i32.div_u (i32.add (local.get $t) (i32.sub (local.get $sw) (i32.const 1))) (local.get $sw)))
      (else (i32.const 0))))

  ;; One past the last output column q < ow whose tap j lands inside: q·sw − pl + j ≤ w − 1.
  (func $qHigh (param $w i32) (param $pl i32) (param $j i32) (param $sw i32) (param $ow i32) (result i32)
    (local $t i32) (local $r i32)
    (local.set $t (i32.add (i32.sub (local.get $w) (i32.const 1)) (i32.sub (local.get $pl) (local.get $j))))
    (if (i32.lt_s (local.get $t) (i32.const 0)) (then (return (i32.const 0))))
    (local.set $r (i32.add (i32.div_u (local.get $t) (local.get $sw)) (i32.const 1)))
    (select (local.get $ow) (local.get $r) (i32.gt_u (local.get $r) (local.get $ow))))
)
