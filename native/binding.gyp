{
  "targets": [
    {
      "target_name": "ichdet_native",
      "sources": ["ichdet_native.c"],
      "cflags": ["-O3", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-ffp-contract=off"],
      "libraries": ["-ldl", "-lm"]
    }
  ]
}
