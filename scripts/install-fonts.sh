#!/usr/bin/env bash
# Install the Debian font packages the synthetic data engine draws from (see docs in scenetext/synth).
# Fonts are redistributable but large, so they are installed by apt, never committed.
#
# usage: scripts/install-fonts.sh [--minimal] [--no-latin] [--no-cjk] [--backgrounds]
#   --minimal      only DejaVu + WenQuanYi Micro Hei (about 3 MB; enough for tests and CI)
#   --no-latin     skip the Latin families (serif, sans, mono, display, handwriting)
#   --no-cjk       skip the Chinese families (hei, song/ming, kai, handwriting-kai)
#   --backgrounds  also install GIMP's texture patterns (gimp-data, about 14 MB download)
set -euo pipefail

latin=(
  # sans
  fonts-dejavu-core fonts-dejavu-extra fonts-liberation2 fonts-freefont-ttf fonts-roboto-unhinted
  fonts-open-sans fonts-lato fonts-cantarell fonts-crosextra-carlito fonts-karla fonts-cabin fonts-quicksand
  fonts-play fonts-league-spartan fonts-jura fonts-croscore fonts-sil-andika
  # serif
  fonts-urw-base35 fonts-texgyre fonts-roboto-slab fonts-crosextra-caladea fonts-linuxlibertine
  fonts-ebgaramond fonts-adf-accanthis fonts-adf-gillius fonts-adf-universalis fonts-adf-berenis
  fonts-adf-baskervald fonts-adf-tribun fonts-adf-verana fonts-adf-ikarius fonts-adf-libris
  fonts-adf-mekanus fonts-sil-charis fonts-oldstandard fonts-vollkorn fonts-averia-gwf
  fonts-averia-serif-gwf fonts-averia-sans-gwf fonts-goudybookletter fonts-lindenhill
  # mono and typewriter
  fonts-inconsolata fonts-hack fonts-jetbrains-mono fonts-firacode fonts-3270 fonts-go
  fonts-anonymous-pro fonts-gnutypewriter fonts-noto-mono
  # display
  fonts-bebas-neue fonts-yanone-kaffeesatz fonts-lobster fonts-lobstertwo fonts-leckerli-one fonts-okolaks
  fonts-apropal fonts-radisnoir fonts-f500 fonts-beteckna fonts-blankenburg fonts-gotico-antiqua
  fonts-klaudia-berenika fonts-dustin fonts-havana
  # handwriting and script
  fonts-comic-neue fonts-dancingscript fonts-breip fonts-femkeklaver fonts-kristi fonts-staypuft
  fonts-tomsontalks fonts-dkg-handwriting fonts-humor-sans fonts-rufscript fonts-sjfonts fonts-bwht
  fonts-kaushanscript fonts-joscelyn fonts-levien-typoscript fonts-isabella fonts-ecolier-court
)
cjk=(
  # hei (sans)
  fonts-noto-cjk fonts-wqy-microhei fonts-wqy-zenhei fonts-droid-fallback
  # song / ming (serif)
  fonts-arphic-uming fonts-arphic-gbsn00lp
  # kai and handwriting-kai
  fonts-arphic-ukai fonts-arphic-gkai00mp fonts-lxgw-wenkai
  # condensed display
  fonts-smiley-sans
)
minimal=(fonts-dejavu-core fonts-wqy-microhei)

want_latin=1 want_cjk=1 want_minimal=0 want_backgrounds=0
for arg in "$@"; do
  case "$arg" in
    --minimal) want_minimal=1 ;;
    --no-latin) want_latin=0 ;;
    --no-cjk) want_cjk=0 ;;
    --backgrounds) want_backgrounds=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "error: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

packages=()
if [[ $want_minimal == 1 ]]; then
  packages+=("${minimal[@]}")
else
  [[ $want_latin == 1 ]] && packages+=("${latin[@]}")
  [[ $want_cjk == 1 ]] && packages+=("${cjk[@]}")
fi
[[ $want_backgrounds == 1 ]] && packages+=(gimp-data)
if [[ ${#packages[@]} == 0 ]]; then
  echo "nothing to install" >&2
  exit 0
fi

sudo=""
if [[ $(id -u) != 0 ]]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update
# Packages missing from this release are skipped with a note rather than failing the whole install.
known=" $(apt-cache pkgnames | tr '\n' ' ') "
available=()
for pkg in "${packages[@]}"; do
  if [[ $known == *" $pkg "* ]]; then
    available+=("$pkg")
  else
    echo "note: $pkg is not available in this Debian release; skipped" >&2
  fi
done
$sudo apt-get install -y --no-install-recommends "${available[@]}"
if command -v fc-cache >/dev/null; then
  fc-cache -f >/dev/null
fi
echo "${#available[@]} font packages present; list the fonts with: scenetext synth fonts"
