"""The printable registration pamphlet with its QR code (N11)."""
