"""The 15 built-in dataset readers (CoOp's on-disk layouts), one module each; ``builtin`` lists their specs."""
