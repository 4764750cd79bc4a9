#!/usr/bin/env bash
# Regenerates the small sounds in audio/ (see audio/MANIFEST.yaml): hold audio made from sine tones with sox, and
# sample caller recordings rendered by espeak-ng. Both are ours (CC0-1.0, audio/LICENSE). Run from the repository
# root; then update the manifest: `python -m ivr.audio.manifest`.
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ── hold audio: a soft three-note chime (C5 E5 G5), a pause, the notes back down, a longer pause; 8 kHz mono.
# -D: no dither, so the same command gives the same bytes.
tone() { sox -D -n -r 8000 -b 16 -c 1 "$tmp/$1.wav" synth 0.7 sine "$2" fade h 0.08 0.7 0.45 vol 0.22; }
tone c 523.25; tone e 659.25; tone g 783.99
sox -D -n -r 8000 -b 16 -c 1 "$tmp/rest.wav" trim 0 1.2
sox -D -n -r 8000 -b 16 -c 1 "$tmp/long.wav" trim 0 2.4
sox -D "$tmp/c.wav" "$tmp/e.wav" "$tmp/g.wav" "$tmp/rest.wav" "$tmp/g.wav" "$tmp/e.wav" "$tmp/c.wav" "$tmp/long.wav" \
    audio/hold/chime.wav

# ── sample caller turns (what the demo and the simulator docs use), telephone rate.
sample() {
    espeak-ng -v "$1" -s 150 -w "$tmp/raw.wav" "$3"
    sox -D "$tmp/raw.wav" -r 8000 -b 16 -c 1 "audio/samples/$2.wav"
}
sample gmw/nl nl-order-status "waar blijft mijn bestelling"
sample gmw/nl nl-order-number "vier vijf een twee"
sample gmw/nl nl-agent "kan ik een medewerker spreken"
sample gmw/en en-order-status "where is my order"
sample gmw/en en-agent "can I speak to an agent please"
