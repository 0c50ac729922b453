"""Sound -> SHD-format spikes on this machine: the Lauscher cochlea chain (``cochlea``),
eSpeak NG speech (``speech``), the embedded spoken-digits set (``digits``) and the
conversion of labelled audio folders (``convert``). See ``docs/audio.md``."""
