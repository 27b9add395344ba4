"""``livewatch demo``: a simulated forum with planted violations, broadcast live on 127.0.0.1 and monitored
end to end (capture, Whisper, rule packs, report) by the real monitor. See ``run.py``."""
