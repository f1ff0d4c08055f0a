"""The demo summary's sections beyond the liquidation and leverage lines: one module per mart family."""
