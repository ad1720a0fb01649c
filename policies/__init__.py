"""Side-tuning: frozen base encoders, side networks, merge operators, method presets and the SB3 extractor."""
