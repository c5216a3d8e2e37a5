"""Transforms and priors: the only package of rdcodec that imports :mod:`compressai`.

network.py  RaDOGAGA image autoencoder (factorized prior, GDN), the codec's model
face.py     the paper's §5.3 face networks (RaDOGAGA and β-VAE, appendix F)
"""
