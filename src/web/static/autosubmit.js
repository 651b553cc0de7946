// Submits a form marked data-autosubmit (the SAML HTTP-POST binding's hop to the identity
// provider); without JavaScript, its button does the same.
document.addEventListener('DOMContentLoaded', function () {
  var f = document.querySelector('form[data-autosubmit]');
  if (f) { f.submit(); }
});
