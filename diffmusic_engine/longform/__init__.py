"""Long and real-world audio for the diffusion backend: any rate, length and channel count.

The pretrained models are 16 kHz, mono, at most 10.24 s; DAW audio is 44.1/48 kHz, stereo and
minutes long. This package bridges the two (see ``pipeline`` for the whole path): resampling,
mid/side or per-channel signals with shared initial noise, overlapping windows solved as one
batch and joined by weighted overlap-add, context windows and in-gap splicing for inpainting,
and the band merge above the model's band.

Import from the modules: ``pipeline``'s names load torch; ``windows`` (the windows, their
overlap-add and ``taper``, which the dsp pattern fill and the batch's chunks use too) does not.
"""
