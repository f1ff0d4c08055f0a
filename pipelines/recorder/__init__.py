"""The liquidation stream recorder: websocket messages -> landing files -> daily lake partitions."""
